"""--isolation container-root (kaniko's model) inside multiarch's own image under podman with
the default capabilities and seccomp profile: the base replaces the container's files, RUN
steps see the container's real /proc and /dev, each step's layer holds only what it changed;
on this VM (a machine, though it carries /.dockerenv) the mode refuses before any work."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from builder.attest import list_attestations, read_attestation
from builder.transports import TransportContext
from tests.e2e.test_sbom import dpkg_package_count
from tests.fixtures.debian import debootstrapped_debian
from tests.fixtures.project_image import ProjectImage, podman_run

REF_NAME = "org.opencontainers.image.ref.name"
MULTI_STAGE = """FROM oci:/base:busybox AS first
RUN echo one > /one.txt && ls /proc/self/fd > /fds.txt && head -c 16 /dev/urandom | wc -c > /rand.txt
FROM oci:/base:busybox
COPY --from=first /one.txt /copied.txt
RUN cat /copied.txt > /seen.txt; test -e /rand.txt || echo clean >> /seen.txt; \
    readlink /proc/self/exe > /exe.txt; uname -m > /arch.txt
"""


def _layers(layout: Path, tag: str, arch: str) -> list[Path]:
    """The layer blobs, bottom first, of `arch` in the image at `layout`:`tag`."""
    blobs = layout / "blobs" / "sha256"

    def load(digest: str) -> dict[str, Any]:
        return json.loads((blobs / digest.split(":")[1]).read_text())  # type: ignore[no-any-return]

    index = json.loads((layout / "index.json").read_text())
    (top,) = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag]
    manifest = load(top["digest"])
    if "manifests" in manifest:
        (entry,) = [m for m in manifest["manifests"] if m["platform"]["architecture"] == arch]
        manifest = load(entry["digest"])
    return [blobs / layer["digest"].split(":")[1] for layer in manifest["layers"]]


def _layer_paths(layout: Path, tag: str, arch: str) -> list[list[str]]:
    """Each layer's entry names, bottom first."""
    layers = []
    for blob in _layers(layout, tag, arch):
        with tarfile.open(blob) as tar:
            layers.append(sorted(name.rstrip("/") for name in tar.getnames()))
    return layers


def _file(layout: Path, tag: str, arch: str, path: str) -> str:
    for blob in reversed(_layers(layout, tag, arch)):
        with tarfile.open(blob) as tar:
            if path in tar.getnames():
                member = tar.extractfile(path)
                assert member is not None
                return member.read().decode()
    raise AssertionError(f"{path} in no layer")


def _tag_single(layout: Path, tag: str) -> None:
    """Name the one image of an OCI layout the executor wrote without a tag."""
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].setdefault("annotations", {})[REF_NAME] = tag
    (layout / "index.json").write_text(json.dumps(index))


def _build_in_container(project_image: ProjectImage, tmp_path: Path, dockerfile: str,
                        command: str, volumes: tuple[str, ...] = ()) -> Path:  # fmt: skip
    context, out = tmp_path / "context", tmp_path / "out"
    context.mkdir(exist_ok=True)  # the caller may have put files in it
    out.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    base = project_image.context / ".image-build" / "base"
    volumes = ("-v", f"{context}:/workspace", "-v", f"{out}:/out", "-v", f"{base}:/base:ro",
               *volumes)
    done = podman_run(project_image.podman_image("debug", "amd64"), "-c", command, extra=volumes)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_multi_stage_build_in_the_container_root(project_image: ProjectImage, tmp_path: Path) -> None:
    out = _build_in_container(project_image, tmp_path, MULTI_STAGE,
                              "multiarch executor --context /workspace --no-push "
                              "--oci-layout-path /out/img --isolation container-root")  # fmt: skip
    _tag_single(out / "img", "t")
    layers = _layer_paths(out / "img", "t", "amd64")
    # the base, then exactly what COPY and RUN changed: no builder files, mounts or /etc/hosts
    assert layers[1:] == [["copied.txt"], ["arch.txt", "exe.txt", "seen.txt"]]
    # the second stage started from its own base: the first stage's files are gone
    assert _file(out / "img", "t", "amd64", "seen.txt") == "one\nclean\n"
    assert _file(out / "img", "t", "amd64", "exe.txt") == "/bin/busybox\n"


def test_build_of_both_platforms_one_after_another(project_image: ProjectImage, tmp_path: Path) -> None:
    """arm64 RUN steps through the host's binfmt handler (F flag), inside the container."""
    out = _build_in_container(project_image, tmp_path, MULTI_STAGE,
                              "multiarch build --progress plain --isolation container-root "
                              "--platform linux/amd64,linux/arm64 -o oci:/out/img:both "
                              "/workspace")  # fmt: skip
    for arch, machine in (("amd64", "x86_64"), ("arm64", "aarch64")):
        layers = _layer_paths(out / "img", "both", arch)
        assert layers[1:] == [["copied.txt"], ["arch.txt", "exe.txt", "seen.txt"]]
        assert _file(out / "img", "both", arch, "arch.txt") == f"{machine}\n"


def test_refuses_on_a_machine_before_any_work(project_image: ProjectImage, tmp_path: Path) -> None:
    """The bundle itself, started on this VM through its loader: one error, nothing made."""
    bundle = project_image.bundle("amd64")
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nRUN true\n")
    store = tmp_path / "store"
    done = subprocess.run(
        [str(bundle / "lib" / "ld-linux-x86-64.so.2"), "--library-path", str(bundle / "lib"),
         str(bundle / "bin" / "python3.11"), "-I", str(bundle / "bin" / "multiarch"), "executor",
         "--context", str(context), "--no-push", "--isolation", "container-root"],
        capture_output=True, text=True, env={"MULTIARCH_CACHE_DIR": str(store)}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "refusing to overwrite a machine" in done.stderr
    assert "pass --force" in done.stderr
    assert not store.exists()


@pytest.mark.parametrize("flags", [[], ["--force"]])
def test_refuses_a_builder_outside_the_bundle(tmp_path: Path, flags: list[str]) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nRUN true\n")
    done = subprocess.run(["multiarch", "executor", "--context", str(context), "--no-push",
                           "--isolation", "container-root", *flags],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    needle = "needs multiarch's own image" if flags else "refusing to overwrite a machine"
    assert needle in done.stderr


def test_debian_base_with_device_nodes(project_image: ProjectImage, debian_image: str,
                                       tmp_path: Path) -> None:  # fmt: skip
    """A debootstrap'd Debian (its own glibc, device nodes in its layer) replaces the
    container's root; bash process substitution and useradd + USER work; the RUN layers hold
    what the steps changed and none of the builder's files or the container's mounts; its
    SBOM lists the image's dpkg packages and nothing of the builder's own bundle."""
    registry = debian_image.split("/", 1)[0]
    dockerfile = (f"FROM {debian_image}\n"
                  "RUN bash -c 'cat <(echo substituted) > /sub.txt' && useradd -m builder1\n"
                  "USER builder1\n"
                  "RUN id -un > /home/builder1/me.txt && ls /proc/self/fd > /dev/null\n")  # fmt: skip
    out = _build_in_container(project_image, tmp_path, dockerfile,
                              "multiarch executor --context /workspace --no-push "
                              f"--insecure-registry {registry} "
                              "--oci-layout-path /out/img --isolation container-root --sbom")  # fmt: skip
    (record,) = list_attestations(f"oci:{out / 'img'}:latest", TransportContext())
    sbom = json.loads(read_attestation(f"oci:{out / 'img'}:latest", record, TransportContext()))
    purls = [ref["referenceLocator"] for p in sbom["predicate"]["packages"]
             for ref in p.get("externalRefs", [])]
    assert len([p for p in purls if p.startswith("pkg:deb/debian/")]) == dpkg_package_count(
        debootstrapped_debian())
    assert not [p for p in purls if p.startswith("pkg:pypi/")]  # the bundle's are not the image's
    assert not [f for f in sbom["predicate"].get("files", []) if "multiarch" in f["fileName"]]
    _tag_single(out / "img", "t")
    base, *steps = _layer_paths(out / "img", "t", "amd64")
    assert "dev/null" in base
    changed = {path for layer in steps for path in layer}
    assert {"sub.txt", "home/builder1/me.txt", "etc/passwd"} <= changed
    forbidden = ("multiarch", "workspace", "out", "etc/hosts", "etc/resolv.conf", "etc/hostname")
    assert not [p for p in changed if p.startswith(forbidden)]
    assert _file(out / "img", "t", "amd64", "home/builder1/me.txt") == "builder1\n"


def test_add_of_a_root_filesystem_leaves_the_container_alone(project_image: ProjectImage,
                                                             tmp_path: Path) -> None:  # fmt: skip
    """FROM scratch + ADD of a root filesystem archive (how base images are made): entries in
    the container's mounts and files (/dev/null, /etc/hosts) are left alone, as kaniko's
    ignore list does — they used to replace the container's own (EBUSY, a traceback) — and a
    later stage still has a working /dev/null and copies the rest."""
    context = tmp_path / "context"
    context.mkdir()
    entries = [("etc", tarfile.DIRTYPE, b""), ("dev", tarfile.DIRTYPE, b""),
               ("dev/null", tarfile.CHRTYPE, b""), ("etc/hosts", tarfile.REGTYPE, b"x\n"),
               ("etc/passwd", tarfile.REGTYPE, b"root:x:0:0::/root:/bin/sh\n")]  # fmt: skip
    with tarfile.open(context / "rootfs.tar", "w") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type, info.size = kind, len(data)
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.devmajor, info.devminor = (1, 3) if kind == tarfile.CHRTYPE else (0, 0)
            tar.addfile(info, io.BytesIO(data))
    dockerfile = ("FROM scratch AS rootfs\nADD rootfs.tar /\n"
                  "FROM oci:/base:busybox\nCOPY --from=rootfs / /copied/\n"
                  "RUN echo discarded > /dev/null && cat /copied/etc/passwd > /seen.txt\n")  # fmt: skip
    out = _build_in_container(project_image, tmp_path, dockerfile,
                              "multiarch executor --context /workspace --no-push "
                              "--oci-layout-path /out/img --isolation container-root")  # fmt: skip
    _tag_single(out / "img", "t")
    assert _layer_paths(out / "img", "t", "amd64")[1:] == [
        ["copied", "copied/etc", "copied/etc/passwd"], ["seen.txt"]
    ]


def test_cache_mounts_keep_what_steps_wrote(project_image: ProjectImage, tmp_path: Path) -> None:
    """A cache mount's content persists from step to step and build to build (as under
    namespace isolation, where it is a real bind mount) and reaches no layer."""
    dockerfile = (
        "FROM oci:/base:busybox\n"
        "RUN --mount=type=cache,target=/var/cache/app echo first >> /var/cache/app/log\n"
        "RUN --mount=type=cache,target=/var/cache/app cat /var/cache/app/log > /seen.txt\n"
    )
    build = ("multiarch executor --context /workspace --no-push --isolation container-root "
             "--oci-layout-path /out/{0} --cache-dir /out/store")
    out = _build_in_container(project_image, tmp_path, dockerfile,
                              f"{build.format('one')} && {build.format('two')} --no-cache")
    for name, seen in (("one", "first\n"), ("two", "first\nfirst\n")):
        _tag_single(out / name, "t")
        assert _file(out / name, "t", "amd64", "seen.txt") == seen
        assert not any("var/cache/app/log" in names
                       for names in _layer_paths(out / name, "t", "amd64")), name
