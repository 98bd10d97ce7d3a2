"""busybox-static root filesystems for linux/amd64 and linux/arm64, from Debian packages.

There is no public registry to pull a base image from here, so the demo (and the tests and
benchmarks) start from Debian's busybox-static: the package for the architecture is fetched
once with `apt-get download` into a cache directory and unpacked with `dpkg-deb`; the root gets
an applet symlink per command and a small /etc/passwd and /etc/group.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from multiarch.demo.commands import run_multiarch
from multiarch.demo.debs import DEB_CACHE, debian_debs

ARCHES = ("amd64", "arm64")
PLATFORMS = ",".join(f"linux/{arch}" for arch in ARCHES)
BASE_DOCKERFILE = """FROM scratch
ARG TARGETARCH
COPY rootfs-${TARGETARCH}/ /
CMD ["sh"]
"""

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


def busybox_deb(arch: str, cache: Path = DEB_CACHE) -> Path:
    """Debian's busybox-static .deb for `arch`, downloaded once into `cache`."""
    if arch not in ARCHES:
        raise ValueError(f"no busybox for {arch!r}; have {', '.join(ARCHES)}")
    return debian_debs(["busybox-static"], arch, cache)[0]


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


def build_base(workdir: Path, what: str = "demo") -> str:
    """A busybox image for both ARCHES, built with multiarch into `oci:WORKDIR/base:busybox`."""
    context = workdir / "base-context"
    for arch in ARCHES:
        root = context / f"rootfs-{arch}"
        if not root.exists():
            build_busybox_rootfs(arch, root)
    (context / "Dockerfile").write_text(BASE_DOCKERFILE)
    base = f"oci:{workdir / 'base'}:busybox"
    run_multiarch("build", "--progress", "plain", "--platform", PLATFORMS, "-o", base, str(context),
              what=what)  # fmt: skip
    return base
