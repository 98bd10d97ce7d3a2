"""Debian packages for any architecture, downloaded once into a shared cache directory.

The demo, the tests, the benchmarks and `./tasks image` start from Debian packages rather than
a public image registry: `apt-get download PKG:ARCH` (after `dpkg --add-architecture` for a
foreign one) into a cache that several builds or test sessions share under a file lock.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEB_CACHE = Path(os.environ.get("MULTIARCH_DEB_CACHE", "/var/cache/multiarch-debs"))


def host_arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def debian_debs(packages: Sequence[str], arch: str, cache: Path = DEB_CACHE) -> list[Path]:
    """The .deb of each package for `arch`, in the order asked, downloaded once into `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    if missing := [pkg for pkg in packages if not _cached(pkg, arch, cache)]:
        with open(cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # several builds or test sessions side by side
            if missing := [pkg for pkg in missing if not _cached(pkg, arch, cache)]:
                _download(missing, arch, cache)
    return [_cached(pkg, arch, cache)[-1] for pkg in packages]


def _cached(package: str, arch: str, cache: Path) -> list[Path]:
    return sorted(cache.glob(f"{package}_*_{arch}.deb"))


def _download(packages: Sequence[str], arch: str, cache: Path) -> None:
    if arch != host_arch():
        foreign = subprocess.run(
            ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True, check=True
        ).stdout.split()
        if arch not in foreign:
            subprocess.run(["dpkg", "--add-architecture", arch], check=True)
            subprocess.run(["apt-get", "update", "-qq"], check=True)
    # Downloaded beside the cache and renamed in, so a reader never sees a partial .deb.
    with tempfile.TemporaryDirectory(dir=cache) as partial:
        subprocess.run(
            ["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root",
             *(f"{pkg}:{arch}" for pkg in packages)],
            cwd=partial,
            check=True,
        )  # fmt: skip
        for deb in Path(partial).glob("*.deb"):
            os.replace(deb, cache / deb.name)


def unpack_debs(debs: Sequence[Path], dest: Path) -> Path:
    """Every package's files unpacked into `dest` (created), as dpkg would lay them out."""
    dest.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return dest
