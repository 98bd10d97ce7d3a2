"""The project and its dependencies, installed for the bundle's Python and architecture.

The project is built into a wheel from a copy of its sources (so the checkout gets no build
debris); pip then installs it with binary wheels for the target (`--platform`), which works
the same for a foreign architecture: nothing is compiled or run for the target.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHON_VERSION = "3.11"
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
# The bundle's libc is Debian 12's glibc 2.36: manylinux wheels up to that level run on it
# (pip does not widen a --platform to the levels below, so each is named).
GLIBC_MINORS = range(36, 16, -1)
PROJECT_FILES = ("pyproject.toml", "README.md", "builder", "multiarch")


def install_site_packages(source: Path, arch: str, target: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="bundle-wheel-") as tmp:
        copy = Path(tmp) / "src"
        for name in PROJECT_FILES:
            if (source / name).is_dir():
                shutil.copytree(source / name, copy / name,
                                ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
            else:
                copy.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / name, copy / name)
        wheels = Path(tmp) / "wheels"
        _pip("wheel", "--no-deps", "--wheel-dir", str(wheels), str(copy))
        (wheel,) = wheels.glob("multiarch-*.whl")
        _pip("install", "--target", str(target), "--no-compile", "--only-binary=:all:",
             *_platform_args(arch), "--python-version", PYTHON_VERSION,
             "--implementation", "cp", "--abi", f"cp{PYTHON_VERSION.replace('.', '')}",
             str(wheel))  # fmt: skip
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts for the build host
    return target


def _platform_args(arch: str) -> list[str]:
    machine = MACHINES[arch]
    return [arg for minor in GLIBC_MINORS
            for arg in ("--platform", f"manylinux_2_{minor}_{machine}")]  # fmt: skip


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True
    )
