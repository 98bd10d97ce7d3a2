"""Differential tests: the same Dockerfile built by buildah (Debian's, vfs, chroot isolation,
--format docker) and by us; both images unpacked with umoci and compared file by file (path,
type, mode, owner, content, link target) and on the config fields users see.

Where buildah departs from BuildKit (anchors.md), we assert BuildKit's behaviour instead and
say so next to the adjustment.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from builder.executor.run import run_executor
from builder.executor.progress import QuietProgress
from builder.options import ExecutorOptions
from tests.fixtures.registry import RegistryHandle

CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
                 "Labels", "StopSignal", "Healthcheck")

DOCKERFILES = {
    "metadata": """\
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
""",
    "copy_rules": """\
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
""",
    "run_changes": """\
FROM {base}
RUN mkdir -p /data/keep /data/drop && echo 1 > /data/keep/f && echo 2 > /data/drop/f
RUN rm -rf /data/drop && rm /bin/vi && echo changed > /etc/motd
RUN echo "app:x:2000:2000::/home/app:/bin/sh" >> /etc/passwd && mkdir -p /home/app/x && chown app /home/app/x
USER app
RUN touch /home/app/x/made-by-app
USER root
RUN ln -s /etc/motd /motd-link && ln /etc/motd /motd-hard && chmod 4755 /home && uname -m > /arch
""",
    "multistage": """\
FROM {base} AS one
RUN mkdir /out && echo one > /out/one && chown 1000:100 /out/one
FROM {base} AS two
COPY --from=one /out /from-one
COPY --from=one /out/one /single
ADD archive.tar /unpacked/
ADD archive.tar.gz /unpacked-gz
""",
}


def _tree(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            rel = "/" + str(path.relative_to(root))
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                detail = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                detail = os.readlink(path)
            else:
                detail = None
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, detail)
    return out


def _context(tmp_path: Path) -> Path:
    import io
    import tarfile

    ctx = tmp_path / "context"
    (ctx / "dir/sub").mkdir(parents=True)
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
    return ctx


def _buildah(tmp_path: Path, context: Path, dockerfile: Path, platform: str) -> tuple[Path, dict]:
    storage = ["--root", str(tmp_path / "bh-root"), "--runroot", str(tmp_path / "bh-run"),
               "--storage-driver", "vfs"]
    subprocess.run(["buildah", *storage, "build", "--quiet", "--isolation", "chroot", "--format",
                    "docker", "--tls-verify=false", "--platform", platform, "-f", str(dockerfile),
                    "-t", "diff-image", str(context)], check=True, capture_output=True)
    layout = tmp_path / "bh-layout"
    subprocess.run(["buildah", *storage, "push", "--quiet", "diff-image", f"oci:{layout}:img"],
                   check=True, capture_output=True)
    # Its OCI push drops Docker-only fields (Healthcheck, Shell): read the Docker config.
    inspected = subprocess.run(["buildah", *storage, "inspect", "--type", "image", "diff-image"],
                               check=True, capture_output=True, text=True).stdout
    return layout, json.loads(inspected)["Docker"]["config"]


def _unpack(layout: Path, dest: Path) -> tuple[dict[str, tuple], dict]:
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:img", str(dest)], check=True,
                   capture_output=True)
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", "--raw", f"oci:{layout}:img"],
                                       check=True, capture_output=True, text=True).stdout)
    return _tree(dest / "rootfs"), config.get("config", {})


CASES = [(name, "linux/amd64") for name in sorted(DOCKERFILES)] + [("run_changes", "linux/arm64")]


@pytest.mark.slow
@pytest.mark.parametrize("name,platform", CASES)
def test_same_image_as_buildah(name: str, platform: str, tmp_path: Path, registry: RegistryHandle,
                               busybox_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    context = _context(tmp_path)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILES[name].format(base=busybox_image))
    theirs_layout, their_config = _buildah(tmp_path, context, dockerfile, platform)
    ours_layout = tmp_path / "our-layout"
    run_executor(ExecutorOptions(context=str(context), dockerfile=str(dockerfile), no_push=True,
                                 oci_layout_path=str(ours_layout), destinations=("example.com/x:img",),
                                 custom_platform=platform,
                                 insecure_registries=(registry.host,)), QuietProgress())
    ours, our_config = _unpack(ours_layout, tmp_path / "ours")
    if name == "run_changes":  # RUN really ran on the target architecture (QEMU for arm64)
        machine = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}[platform]
        assert (tmp_path / "ours/rootfs/arch").read_text() == machine + "\n"
    theirs, _ = _unpack(theirs_layout, tmp_path / "theirs")

    # buildah departs from BuildKit: it creates VOLUME directories; BuildKit does not.
    for volume in their_config.get("Volumes") or {}:
        theirs.pop(volume, None)
        assert volume not in ours
    # buildah leaves the mountpoints it bind-mounts for RUN in the image when it created them.
    for path in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run", "/run/.containerenv"):
        if path not in ours:
            theirs.pop(path, None)
    only_ours = {p: ours[p] for p in ours.keys() - theirs.keys()}
    only_theirs = {p: theirs[p] for p in theirs.keys() - ours.keys()}
    differ = {p: (ours[p], theirs[p]) for p in ours.keys() & theirs.keys() if ours[p] != theirs[p]}
    assert (only_ours, only_theirs, differ) == ({}, {}, {})

    # buildah adds its own version label.
    their_labels = {k: v for k, v in (their_config.get("Labels") or {}).items() if not k.startswith("io.buildah")}
    their_config["Labels"] = their_labels or None
    # buildah moves a replaced ENV variable to the end; BuildKit replaces it in place.
    assert sorted(our_config["Env"]) == sorted(their_config["Env"])
    our_config["Env"] = their_config["Env"] = None
    for field in CONFIG_FIELDS:
        assert (our_config.get(field) or None) == (their_config.get(field) or None), field
