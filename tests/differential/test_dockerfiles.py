"""Differential tests: each Dockerfile pins a few rules; buildah and multiarch build it from the
same context, both images are flattened by the OCI layer rules (tests/differential/flatten.py)
and compared file by file (type, mode, owner, content, link target, hard-link groups, xattrs)
and on the config fields users see.

BuildKit is the reference. Where buildah 1.28 departs from it, the case turns buildah's image
into BuildKit's expected one (`as_buildkit`), next to a link to the rule.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.differential.builders import Buildah, build_ours, config_fields
from tests.differential.flatten import Entry, FlatImage
from tests.fixtures.registry import RegistryHandle

AMD64, ARM64 = "linux/amd64", "linux/arm64"
# What buildah bind-mounts for RUN and leaves behind when it had to create the mountpoint;
# BuildKit removes the mountpoints it created (executor/oci/mounts.go).
RUN_MOUNTPOINTS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run", "/run/.containerenv")
Adjust = Callable[[FlatImage], None]


@dataclass(frozen=True)
class Case:
    dockerfile: str
    platforms: tuple[str, ...] = (AMD64,)
    dockerignore: str | None = None
    as_buildkit: Adjust | None = None
    """Edits buildah's image into what BuildKit builds (only where the two differ)."""


def _file(text: str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Entry:
    return Entry("file", mode, uid, gid, "text:" + text)


def _no_volume_dirs(image: FlatImage) -> None:
    # buildah creates VOLUME directories; BuildKit records the volume and creates nothing
    # (moby/buildkit frontend/dockerfile/dockerfile2llb/convert.go dispatchVolume).
    for volume in image.config["config"].get("Volumes") or {}:
        image.files.pop(volume, None)


def _add_chown_owns_archive_entries(image: FlatImage) -> None:
    # BuildKit >= dockerfile 1.17 gives ADD --chown's owner to every archive entry (buildah
    # 1.28 keeps the tar's); a parent the archive only implies is made root-owned by the
    # untar (moby/buildkit#5987, solver/llbsolver/file/unpack.go ChownOpts; go-archive).
    for path in ("/added/pkg/one", "/added/pkg/two"):
        image.files[path] = replace(image.files[path], uid=2000, gid=3000)
    image.files["/added/pkg"] = replace(image.files["/added/pkg"], uid=0, gid=0)


def _hard_link_to_lower_file_is_a_new_file(image: FlatImage) -> None:
    # `ln /etc/motd /motd-hard` where an earlier step wrote /etc/motd: BuildKit's overlay
    # differ skips the copied-up /etc/motd (same mode, owner, size and mtime: moby/buildkit
    # util/overlay/overlay_linux.go sameDirent), so /motd-hard is a plain new file. buildah's
    # vfs differ re-emits /etc/motd and the two stay linked (for /bin/busybox, which came
    # from the base image, it agrees with BuildKit).
    image.hardlinks.discard(frozenset({"/etc/motd", "/motd-hard"}))


def _excluded_parents_keep_context_metadata(image: FlatImage) -> None:
    # An excluded directory that comes along as the parent of a re-included file keeps its
    # context metadata (fsutil's walker sends the directory's own stat); buildah makes it 0755.
    for path in ("/ctx/dir/sub", "/dir-only/sub"):
        image.files[path] = replace(image.files[path], mode=0o750)


CASES: dict[str, Case] = {
    "metadata": Case("""\
FROM {base}
ARG VERSION=1.2
ENV APP=/srv/app PATH=/srv/app/bin:$PATH
LABEL version=$VERSION maintainer="x y"
WORKDIR $APP
USER builder:users
EXPOSE 80 443/tcp 53/udp
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $APP"]
"""),
    "copy_rules": Case("""\
FROM {base}
COPY a.txt /file-dest
COPY a.txt /newdir/
COPY a.txt b.txt /multi/
COPY *.txt /glob/
COPY dir /dircontents
COPY dir/ /dircontents2/
COPY a.txt /tmp
COPY --chown=builder:users dir /owned
COPY --chown=1000 a.txt /owned-numeric
COPY --chmod=0700 a.txt /modes/exec
COPY link.txt /followed
COPY dir/sub/../sub/c.txt /relative/
WORKDIR /w
COPY a.txt rel/
COPY a.txt .
"""),
    # COPY/ADD --chown=NAME: the group is NAME's primary group from the image's /etc/passwd;
    # a numeric uid alone gets gid = uid (solver/llbsolver/file/user_linux.go readUser).
    "chown_names": Case("""\
FROM {base}
RUN echo "app:x:2000:3000::/home/app:/bin/sh" >> /etc/passwd && echo "grp:x:3000:" >> /etc/group
COPY --chown=app a.txt /by-name
COPY --chown=2000 a.txt /by-uid
COPY --chown=app:users dir /by-name-group
ADD --chown=app archive.tar /added/
""", as_buildkit=_add_chown_owns_archive_entries),
    "run_changes": Case("""\
FROM {base}
RUN mkdir -p /data/keep /data/drop && echo 1 > /data/keep/f && echo 2 > /data/drop/f
RUN rm -rf /data/drop && rm /bin/vi && echo changed > /etc/motd
RUN echo "app:x:2000:2000::/home/app:/bin/sh" >> /etc/passwd \\
 && mkdir -p /home/app/x && chown app /home/app/x
USER app
RUN touch /home/app/x/made-by-app
USER root
RUN ln -s /etc/motd /motd-link && ln /etc/motd /motd-hard && chmod 4755 /home && uname -m > /arch
RUN mkdir /sp && ln /bin/busybox /sp/hard
""", platforms=(AMD64, ARM64), as_buildkit=_hard_link_to_lower_file_is_a_new_file),
    # RUN's user and groups: runc's GetExecUser (initgroups from /etc/group), with the primary
    # gid always among the groups (BuildKit executor/oci/user.go, spec.go WithUIDGID).
    "run_users": Case("""\
FROM {base}
RUN echo "app:x:2000:3000::/home/app:/bin/sh" >> /etc/passwd \\
 && printf 'grp:x:3000:\\nextra:x:4000:app\\nmore:x:4500:builder,app\\n' >> /etc/group \\
 && mkdir /ids && chmod 1777 /ids && uname -m > /arch
RUN id > /ids/default
USER root
RUN id > /ids/root
USER app
RUN id > /ids/app
USER app:extra
RUN id > /ids/app-extra
USER 2000
RUN id > /ids/uid-2000
USER 4242
RUN id > /ids/uid-4242
USER 4242:4500
RUN id > /ids/pair
USER builder
RUN id > /ids/builder
USER nobody
RUN id > /ids/nobody
""", platforms=(AMD64, ARM64)),
    # .dockerignore: an excluded directory appears only as the parent of a re-included path.
    "dockerignore": Case("""\
FROM {base}
COPY . /ctx/
COPY dir /dir-only/
""", dockerignore="dir\n!dir/sub/c.txt\n*.tar*\n!archive.tar.gz\nb.txt\n",
        as_buildkit=_excluded_parents_keep_context_metadata),
    # ONBUILD: the parent stage's triggers run first in the child; the child's config has only
    # its own ONBUILD lines (dockerfile2llb/convert.go: dispatchState.init, initOnBuildTriggers).
    "onbuild": Case("""\
FROM {base} AS parent
ONBUILD RUN echo triggered > /onbuild-ran
ONBUILD ENV FROM_TRIGGER=yes
ONBUILD COPY a.txt /from-trigger.txt
LABEL parent=1
FROM parent AS child
ONBUILD RUN echo grandchild
RUN echo "trigger env: $FROM_TRIGGER" > /env-seen
"""),
    # ARG/ENV expansion in every instruction that expands (BuildKit frontend/dockerfile
    # instructions: ENV, ADD, COPY, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR), with
    # ${VAR:-default}, ${VAR:+alt} and escapes; RUN sees ENV and ARG, not the escaped name.
    "expansion": Case("""\
FROM {base}
ARG NAME=world
ARG EMPTY
ARG PORT=8080
ENV GREETING="hello ${{NAME}}" DIR=/opt/${{NAME:-x}} ALT=${{EMPTY:-fallback}} PLUS=${{NAME:+set}}
ENV ESC=\\$NAME CHAIN=$GREETING-2 QUOTED='$NAME' MIXED="a"'b'c
LABEL greeting="$GREETING" dir=$DIR "spaced key"="v w"
WORKDIR $DIR
WORKDIR sub/${{NAME}}
EXPOSE ${{PORT}}/tcp ${{PORT}}/udp
COPY a.txt $DIR/copied-${{NAME}}.txt
ADD b.txt ${{DIR}}/added.txt
COPY ["a.txt", "$DIR/json-${{NAME}}"]
RUN echo "$GREETING|$ALT|$PLUS|$ESC|$CHAIN|$QUOTED|$MIXED|$NAME|$PORT" > run-sees
VOLUME ["/data/${{NAME}}"]
STOPSIGNAL ${{SIG:-SIGQUIT}}
USER ${{USERNAME:-builder}}
"""),
    # Config merging over a parent stage: labels inherited and overridden, EXPOSE and VOLUME
    # merged, ENV replaced in place, SHELL used by RUN and kept, HEALTHCHECK replaced whole.
    "config_merge": Case("""\
FROM {base} AS parent
LABEL a=1 b=2
EXPOSE 80 90/udp
VOLUME /v1
ENV X=1 KEEP=k
HEALTHCHECK --interval=7s --retries=4 CMD true
SHELL ["/bin/sh", "-ec"]
CMD ["parent-cmd"]
FROM parent
LABEL b=3 c=4
EXPOSE 80/tcp 443
VOLUME ["/v2", "/v1"]
ENV X=2 Y=$X
RUN echo "$Y $X $KEEP $0" > /shell-env
HEALTHCHECK CMD ["true"]
ENTRYPOINT ["/bin/echo"]
"""),
    # WORKDIR: created when missing (owned by USER when one is set), relative to the last,
    # left alone when it exists; RUN runs there.
    "workdir_user": Case("""\
FROM {base}
RUN echo "app:x:2000:3000::/home/app:/bin/sh" >> /etc/passwd && echo "grp:x:3000:" >> /etc/group
WORKDIR /as-root/nested
USER app
WORKDIR /by-app/nested
WORKDIR rel
RUN pwd > /tmp/pwd-app && id -u >> /tmp/pwd-app
WORKDIR /tmp
USER root
WORKDIR /by-app/nested/rel/deeper
"""),
    # The automatic platform ARGs, for a RUN on each target (BuildKit normalizes linux/arm64/v8
    # to an empty TARGETVARIANT); HEALTHCHECK NONE.
    "platform_args": Case("""\
FROM {base} AS parent
HEALTHCHECK --interval=3s CMD true
FROM parent
ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT
RUN echo "$TARGETPLATFORM|$TARGETOS|$TARGETARCH|$TARGETVARIANT" > /platform
HEALTHCHECK NONE
""", platforms=(AMD64, ARM64)),
    "multistage": Case("""\
FROM {base} AS one
RUN mkdir /out && echo one > /out/one && chown 1000:100 /out/one
FROM {base} AS two
COPY --from=one /out /from-one
COPY --from=one /out/one /single
ADD archive.tar /unpacked/
ADD archive.tar.gz /unpacked-gz
"""),
}


def _context(tmp_path: Path, dockerignore: str | None) -> Path:
    ctx = tmp_path / "context"
    (ctx / "dir/sub").mkdir(parents=True)
    (ctx / "dir/empty").mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "b.txt").write_text("b\n")
    (ctx / "dir/x.txt").write_text("x\n")
    (ctx / "dir/sub/c.txt").write_text("c\n")
    os.chmod(ctx / "dir/sub", 0o750)
    (ctx / "link.txt").symlink_to("a.txt")
    for name, mode in (("archive.tar", "w"), ("archive.tar.gz", "w:gz")):
        with tarfile.open(ctx / name, mode) as tar:
            for entry, text in (("pkg/one", "1\n"), ("pkg/two", "2\n")):
                info = tarfile.TarInfo(entry)
                info.size = len(text)
                info.mode = 0o640
                info.uid, info.gid = 123, 45
                tar.addfile(info, io.BytesIO(text.encode()))
    if dockerignore is not None:
        (ctx / ".dockerignore").write_text(dockerignore)
    return ctx


def _without_buildah_mountpoints(theirs: FlatImage, ours: FlatImage) -> None:
    for path in RUN_MOUNTPOINTS:
        if path not in ours.files:
            theirs.files.pop(path, None)


def _comparable_config(config: dict[str, Any], buildah: bool) -> dict[str, Any]:
    fields = config_fields(config)
    if buildah:  # buildah adds its version label
        labels = {k: v for k, v in (fields["Labels"] or {}).items()
                  if not k.startswith("io.buildah")}
        fields["Labels"] = labels or None
    # buildah moves a replaced ENV variable to the end; BuildKit replaces it in place.
    fields["Env"] = sorted(fields["Env"] or [])
    return fields


CASE_PLATFORMS = [(name, platform) for name, case in CASES.items() for platform in case.platforms]


@pytest.mark.slow
@pytest.mark.parametrize("name,platform", CASE_PLATFORMS)
def test_same_image_as_buildkit(name: str, platform: str, tmp_path: Path, buildah: Buildah,
                                registry: RegistryHandle, busybox_image: str) -> None:
    case = CASES[name]
    context = _context(tmp_path, case.dockerignore)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(case.dockerfile.format(base=busybox_image))
    theirs = buildah.build(context, dockerfile, platform, tmp_path / "buildah")
    ours = build_ours(context, dockerfile, platform, tmp_path / "ours", tmp_path / "store",
                      registry.host)
    if "/arch" in ours.files:  # RUN really ran on the target architecture (QEMU for arm64)
        machine = {AMD64: "x86_64", ARM64: "aarch64"}[platform]
        assert ours.files["/arch"].detail == f"text:{machine}\n"
    _without_buildah_mountpoints(theirs, ours)
    _no_volume_dirs(theirs)
    if case.as_buildkit:
        case.as_buildkit(theirs)
    only_ours = {p: ours.files[p] for p in ours.files.keys() - theirs.files.keys()}
    only_theirs = {p: theirs.files[p] for p in theirs.files.keys() - ours.files.keys()}
    differ = {p: (ours.files[p], theirs.files[p])
              for p in ours.files.keys() & theirs.files.keys() if ours.files[p] != theirs.files[p]}
    assert (only_ours, only_theirs, differ) == ({}, {}, {})
    assert ours.hardlinks == theirs.hardlinks
    assert _comparable_config(ours.config, False) == _comparable_config(theirs.config, True)
