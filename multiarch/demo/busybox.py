"""busybox-static root filesystems for linux/amd64 and linux/arm64, from Debian packages.

There is no public registry to pull a base image from here, so the demo (and the tests and
benchmarks) start from Debian's busybox-static: the package for the architecture is fetched
once with `apt-get download` into a cache directory and unpacked with `dpkg-deb`; the root gets
an applet symlink per command and a small /etc/passwd and /etc/group.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

DEB_CACHE = Path(os.environ.get("MULTIARCH_DEB_CACHE", "/var/cache/multiarch-debs"))
ARCHES = ("amd64", "arm64")

PASSWD = """root:x:0:0:root:/root:/bin/sh
builder:x:1000:1000:builder:/home/builder:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
users:x:100:builder
builder:x:1000:
nogroup:x:65534:
"""
DIRS = (("bin", 0o755), ("etc", 0o755), ("proc", 0o555), ("sys", 0o555), ("dev", 0o755),
        ("tmp", 0o1777), ("root", 0o700), ("home/builder", 0o755), ("usr/bin", 0o755),
        ("usr/sbin", 0o755), ("sbin", 0o755), ("var", 0o755))  # fmt: skip


def _host_arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def busybox_deb(arch: str, cache: Path = DEB_CACHE) -> Path:
    """Debian's busybox-static .deb for `arch`, downloaded once into `cache`."""
    if arch not in ARCHES:
        raise ValueError(f"no busybox for {arch!r}; have {', '.join(ARCHES)}")
    pattern = f"busybox-static_*_{arch}.deb"
    if found := sorted(cache.glob(pattern)):
        return found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several builds or test sessions side by side
        if not any(cache.glob(pattern)):
            _download(arch, cache)
    return sorted(cache.glob(pattern))[-1]


def _download(arch: str, cache: Path) -> None:
    if arch != _host_arch():
        foreign = subprocess.run(
            ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True, check=True
        ).stdout.split()
        if arch not in foreign:
            subprocess.run(["dpkg", "--add-architecture", arch], check=True)
            subprocess.run(["apt-get", "update", "-qq"], check=True)
    # Downloaded beside the cache and renamed in, so a reader never sees a partial .deb.
    with tempfile.TemporaryDirectory(dir=cache) as partial:
        subprocess.run(
            ["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root", f"busybox-static:{arch}"],
            cwd=partial,
            check=True,
        )
        for deb in Path(partial).glob("*.deb"):
            os.replace(deb, cache / deb.name)


def build_busybox_rootfs(arch: str, dest: Path, cache: Path = DEB_CACHE) -> Path:
    """A minimal root at `dest` (created) around busybox-static for `arch`."""
    unpacked = dest.with_name(dest.name + ".deb")
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(busybox_deb(arch, cache)), str(unpacked)], check=True)
    for name, mode in DIRS:
        (dest / name).mkdir(parents=True, exist_ok=True)
        (dest / name).chmod(mode)
    os.chown(dest / "home/builder", 1000, 1000)
    shutil.copy2(unpacked / "bin" / "busybox", dest / "bin" / "busybox")
    shutil.rmtree(unpacked)
    # Both architectures' packages are the same Debian version, so the host's applet list fits.
    applets = subprocess.run(
        ["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = dest / applet
        if link.name != "busybox" and not os.path.lexists(link):
            link.symlink_to(os.path.relpath(dest / "bin" / "busybox", link.parent))
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    return dest
