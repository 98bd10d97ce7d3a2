"""The builder bundle runs on any root: it brings its own loader, libc and Python, so neither
a shell, a Python nor the base's own libraries are needed (arm64 under the host's QEMU)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.project_image import ProjectImage

ARCHES = ["amd64", "arm64"]
CHECK = ("import platform, ssl, hashlib, ctypes, lzma, bz2, zlib, uuid, decimal, json; "
         "import httpx, pydantic_core, zstandard, isal, yaml; "
         "print(platform.machine(), ssl.OPENSSL_VERSION.split()[0])")  # fmt: skip


def _install(bundle: Path, root: Path) -> None:
    shutil.copytree(bundle, root / "multiarch", symlinks=True)


def _chroot(root: Path, *argv: str) -> str:
    chroot = shutil.which("chroot")
    assert chroot is not None
    done = subprocess.run([chroot, str(root), *argv], capture_output=True, text=True,
                          env={"PATH": "/multiarch/bin"}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("arch", ARCHES)
def test_bundle_runs_in_a_busybox_root(
    project_image: ProjectImage, busybox_rootfs: Callable[[str], Path], arch: str
) -> None:
    root = busybox_rootfs(arch)
    _install(project_image.bundle(arch), root)
    assert _chroot(root, "/multiarch/bin/multiarch", "--version").startswith("multiarch, version")
    machine = {"amd64": "x86_64", "arm64": "aarch64"}[arch]
    assert _chroot(root, "/multiarch/bin/python3", "-I", "-c", CHECK).split() == [machine, "OpenSSL"]


@pytest.mark.parametrize("arch", ARCHES)
def test_bundle_runs_on_a_root_with_nothing_else(
    project_image: ProjectImage, tmp_path: Path, arch: str
) -> None:
    """No shell, no libc, no /proc, no /tmp: only the bundle."""
    root = tmp_path / "root"
    _install(project_image.bundle(arch), root)
    assert _chroot(root, "/multiarch/bin/multiarch", "--version").startswith("multiarch, version")


def test_bundle_ignores_the_base_libraries(project_image: ProjectImage, tmp_path: Path) -> None:
    """A base whose own libc, loader cache and libraries would break any program that used
    them (another glibc, musl, or garbage as here): the bundle loads only its own."""
    root = tmp_path / "root"
    _install(project_image.bundle("amd64"), root)
    for libdir in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib", "lib64"):
        (root / libdir).mkdir(parents=True, exist_ok=True)
        for name in ("libc.so.6", "libm.so.6", "libz.so.1", "libssl.so.3", "libcrypto.so.3",
                     "libffi.so.8", "libgcc_s.so.1", "ld-linux-x86-64.so.2"):  # fmt: skip
            (root / libdir / name).write_bytes(b"\x7fELF not a library")
    (root / "etc").mkdir()
    (root / "etc" / "ld.so.cache").write_bytes(b"garbage")
    assert _chroot(root, "/multiarch/bin/python3", "-I", "-c", CHECK).split()[0] == "x86_64"


@pytest.mark.parametrize("arch", ARCHES)
def test_bundle_carries_qemu_for_the_other_architecture(
    project_image: ProjectImage, arch: str
) -> None:
    other = {"amd64": "aarch64", "arm64": "x86_64"}[arch]
    qemu = project_image.bundle(arch) / "bin" / f"qemu-{other}-static"
    header = qemu.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == {"amd64": 62, "arm64": 183}[arch]
