"""One pass over an image's root filesystem that finds what its SBOM lists: distribution
packages (dpkg, apk), Python distributions, npm packages, and executable ELF files that none
of their records account for (binaries COPY'd or built into the image), with checksums.

Bounded: only regular files with an execute bit and the ELF magic are hashed, at most
MAX_FILE_BYTES each and MAX_HASHED_BYTES in all (the rest are counted in the log)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from builder.attest.collect_lang import is_npm_manifest, npm_package, python_distribution
from builder.attest.collect_os import (
    alpine_packages,
    debian_owned_files,
    debian_packages,
    os_release,
)
from builder.attest.components import Component, Inventory, LooseFile
from builder.attest.rootfiles import ImageRoot

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 256 << 20
MAX_HASHED_BYTES = 1 << 30
ELF_MAGIC = b"\x7fELF"


def take_inventory(root: Path) -> Inventory:
    with ImageRoot(root) as image:
        release = os_release(image)
        components = debian_packages(image, release)
        apk, owned = alpine_packages(image, release)
        components += apk
        owned |= debian_owned_files(image)
        executables: list[str] = []
        for directory, dirs, files in image.walk():
            found, more = _language_packages(image, directory, dirs, files)
            components += found
            owned |= more
            executables += _executables(image.path, directory, files)
        owned = _resolved(image, owned)
        loose = _loose_files(image.path, [p for p in executables if p not in owned])
    return Inventory(release, tuple(components), tuple(loose))


def _language_packages(
    image: ImageRoot, directory: str, dirs: list[str], files: list[str]
) -> tuple[list[Component], set[str]]:
    found: list[Component] = []
    owned: set[str] = set()
    prefix = f"{directory}/" if directory else ""
    for name in dirs + files:
        if name.endswith((".dist-info", ".egg-info")):
            component, recorded = python_distribution(image, prefix + name)
            owned |= recorded
            if component is not None:
                found.append(component)
    if "package.json" in files and is_npm_manifest(directory):
        component = npm_package(image, f"{directory}/package.json")
        if component is not None:
            found.append(component)
    if directory.endswith("node_modules") or "/node_modules/" in f"/{directory}/":
        owned.update(prefix + name for name in files)  # part of an npm package
    return found, owned


def _executables(root: Path, directory: str, files: list[str]) -> list[str]:
    prefix = f"{directory}/" if directory else ""
    base = f"{root}/{prefix}"  # str paths: pathlib's joins cost more than the lstat itself
    found = []
    for name in files:
        try:
            st = os.lstat(base + name)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 and st.st_size > len(ELF_MAGIC):
            found.append(prefix + name)
    return found


def _resolved(image: ImageRoot, owned: set[str]) -> set[str]:
    """The owned paths with their directories' symlinks resolved ("bin/sh" is "usr/bin/sh"
    where /bin -> usr/bin, as dpkg's lists of merged-/usr systems say)."""
    real_dirs: dict[str, str | None] = {}
    resolved = set(owned)
    for path in owned:
        directory, _, name = path.rpartition("/")
        if directory not in real_dirs:
            real_dirs[directory] = image.real_dir(directory)
        real = real_dirs[directory]
        if real is not None and real != directory:
            resolved.add(f"{real}/{name}" if real else name)
    return resolved


def _loose_files(root: Path, candidates: list[str]) -> list[LooseFile]:
    found: list[LooseFile] = []
    budget = MAX_HASHED_BYTES
    skipped = 0
    for path in candidates:
        try:
            fd = os.open(root / path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as stream:
            size = os.fstat(fd).st_size
            if stream.read(len(ELF_MAGIC)) != ELF_MAGIC:
                continue
            if size > MAX_FILE_BYTES or size > budget:
                skipped += 1
                continue
            budget -= size
            stream.seek(0)
            sha1, sha256 = hashlib.sha1(), hashlib.sha256()
            while chunk := stream.read(1 << 20):
                sha1.update(chunk)
                sha256.update(chunk)
        found.append(LooseFile(path, sha1.hexdigest(), sha256.hexdigest(), size))
    if skipped:
        log.info("sbom: %d executable(s) not hashed (over %d MiB each or %d MiB in all)",
                 skipped, MAX_FILE_BYTES >> 20, MAX_HASHED_BYTES >> 20)
    return found
