"""The builder bundle: one directory (/multiarch) that runs `multiarch` on any root.

In container-root mode a base image's files replace the container's /usr and /lib, so the
builder cannot use the container's Python or libc. The bundle carries its own: Debian's
python3.11 (patched with patchelf to start through the bundled glibc loader and find its
libraries in the bundle), the standard library, the project and its dependencies as wheels
for the target, every shared library they load, a CA bundle, a static qemu-user for the
other architecture, and Debian's PRoot (patched the same way) for `--isolation proot`. It runs the same on glibc or musl bases, with or without a shell or a
Python of their own. It is built from Debian packages and PyPI wheels for the target
architecture, so an arm64 bundle is assembled on an amd64 machine without running arm64 code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from multiarch.demo.debs import DEB_CACHE, debian_debs, unpack_debs
from multiarch.selfimage import elf
from multiarch.selfimage.sitepackages import install_site_packages

BUNDLE_DIR = PurePosixPath("/multiarch")
PYTHON = "python3.11"
TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
QEMU_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
# The interpreter and the libraries its modules and the dependencies' wheels load
# (libgcc_s: Rust and C++ extensions in manylinux wheels assume it on the system).
PACKAGES = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "libexpat1",
    "zlib1g", "libssl3", "libbz2-1.0", "libffi8", "liblzma5", "libuuid1", "libcrypt1",
    "libgcc-s1", "proot", "libtalloc2",
)  # fmt: skip
# Programs run from the bundle, each started through its glibc loader.
PROGRAMS = (PYTHON, "proot")
# Standard-library parts a builder never imports.
STDLIB_UNUSED = (
    "test", "idlelib", "tkinter", "turtledemo", "turtle.py", "ensurepip", "lib2to3",
    "pydoc_data", "sqlite3", "curses", "distutils", "venv", "EXTERNALLY-MANAGED",
)  # fmt: skip
EXTENSIONS_UNUSED = ("_test", "_xxtest", "xxlimited", "_ctypes_test", "_curses", "_dbm",
                     "_sqlite3", "nis", "readline", "_tkinter", "ossaudiodev")  # fmt: skip


class BundleError(Exception):
    """The bundle cannot be assembled (a library nobody provides, a missing tool)."""


def build_bundle(arch: str, source: Path, dest: Path, cache: Path = DEB_CACHE) -> Path:
    """Assemble the bundle for `arch` at `dest` (replaced), to be installed at BUNDLE_DIR.

    `source` is the project checkout (pyproject.toml, builder/, multiarch/)."""
    if arch not in TRIPLETS:
        raise BundleError(f"no bundle for {arch!r}; have {', '.join(TRIPLETS)}")
    shutil.rmtree(dest, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"bundle-{arch}-") as tmp:
        debs = unpack_debs(debian_debs(PACKAGES, arch, cache), Path(tmp) / "debs")
        _install_python(debs, dest)
        site = dest / "lib" / "python3" / "dist-packages"
        install_site_packages(source, arch, site)
        for obj in site.rglob("*.so*"):
            if elf.is_elf(obj):
                elf.strip_debug(obj)
        _install_libraries(debs, TRIPLETS[arch], dest)
        _install_qemu(arch, dest, cache)
        _install_notices(debs, dest)
    _install_ca_bundle(site, dest)
    _write_entry_point(dest)
    _compile(dest)
    # builder.executor.containerroot.BUNDLE_MARKER: the builder runs from a bundle.
    (dest / ".multiarch-bundle").write_text(f"{arch}\n")
    (dest / "cache").mkdir()
    (dest / "tmp").mkdir()
    (dest / "tmp").chmod(0o1777)
    return dest


def _install_python(debs: Path, dest: Path) -> None:
    (dest / "bin").mkdir(parents=True)
    for program in PROGRAMS:
        shutil.copy2(debs / "usr" / "bin" / program, dest / "bin" / program)
    (dest / "bin" / "python3").symlink_to(PYTHON)
    stdlib = dest / "lib" / PYTHON
    shutil.copytree(debs / "usr" / "lib" / PYTHON, stdlib, symlinks=True,
                    ignore=shutil.ignore_patterns(*STDLIB_UNUSED, "config-3.*", "__pycache__"))
    for module in (stdlib / "lib-dynload").iterdir():
        if module.name.startswith(EXTENSIONS_UNUSED):
            module.unlink()


def _install_libraries(debs: Path, triplet: str, dest: Path) -> None:
    """Every shared library the programs and the extension modules need, found among the
    unpacked packages, into dest/lib; then every ELF file pointed at it."""
    available = {lib.name: lib for libdir in (debs / "lib" / triplet, debs / "usr/lib" / triplet)
                 for lib in libdir.glob("*.so*")}  # fmt: skip
    libdir = dest / "lib"
    programs = [dest / "bin" / program for program in PROGRAMS]
    loader = PurePosixPath(elf.interpreter(programs[0])).name
    objects = [*programs, *(p for p in (dest / "lib").rglob("*.so*") if elf.is_elf(p))]
    pending = list(objects)
    copied: set[str] = set()
    while pending:
        obj = pending.pop()
        own_dirs = [obj.parent / d.replace("$ORIGIN", ".") for d in elf.search_path(obj)]
        for name in elf.needed(obj):
            if name in copied or any((d / name).exists() for d in own_dirs):
                continue
            if name not in available:
                raise BundleError(f"{obj.relative_to(dest)} needs {name}, which no bundled "
                                  f"package provides (add its Debian package to PACKAGES)")
            shutil.copy2(available[name].resolve(), libdir / name)
            copied.add(name)
            pending.append(libdir / name)
    if loader not in copied:
        shutil.copy2(available[loader].resolve(), libdir / loader)
    bundle_lib = str(BUNDLE_DIR / "lib")
    for program in programs:
        elf.point_at(program, bundle_lib, loader=str(BUNDLE_DIR / "lib" / loader))
    for obj in objects[len(programs):]:
        if elf.search_path(obj):  # RUNPATH would hide the program's RPATH from this object
            elf.point_at(obj, bundle_lib)


def _install_qemu(arch: str, dest: Path, cache: Path) -> None:
    """A static qemu-user (built for `arch`) for each other architecture a bundle exists for."""
    (deb,) = debian_debs(["qemu-user-static"], arch, cache)
    wanted = {f"./usr/bin/qemu-{machine}-static"
              for other, machine in QEMU_MACHINES.items() if other != arch}  # fmt: skip
    fsys = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert fsys.stdout is not None
    with tarfile.open(fileobj=fsys.stdout, mode="r|") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                target = dest / "bin" / PurePosixPath(member.name).name
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                target.chmod(0o755)
    if fsys.wait() != 0:
        raise BundleError(f"cannot read {deb.name}")


def _install_notices(debs: Path, dest: Path) -> None:
    """The Debian packages' copyright files: the bundle redistributes their binaries."""
    for notice in (debs / "usr" / "share" / "doc").glob("*/copyright"):
        target = dest / "share" / "doc" / notice.parent.name / "copyright"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notice, target)


def _install_ca_bundle(site: Path, dest: Path) -> None:
    """certifi's CA bundle, SSL_CERT_FILE unless set: the base may have none."""
    certs = dest / "ssl" / "certs"
    certs.mkdir(parents=True)
    shutil.copy2(site / "certifi" / "cacert.pem", certs / "ca-certificates.crt")


def _write_entry_point(dest: Path) -> None:
    """bin/multiarch: the kernel reads its #! line, so no shell is needed (-I: no PYTHON*
    variables, no user site, no script directory on sys.path). Its defaults make the bundle
    work wherever it is copied: the base may have no CA store, no home and no /tmp, and in
    container-root mode only the bundle's directory outlives the base's files."""
    entry = dest / "bin" / "multiarch"
    entry.write_text(
        f"#!{BUNDLE_DIR}/bin/{PYTHON} -I\n"
        "import os\n\n"
        f"os.environ.setdefault('SSL_CERT_FILE', '{BUNDLE_DIR}/ssl/certs/ca-certificates.crt')\n"
        f"os.environ.setdefault('MULTIARCH_CACHE_DIR', '{BUNDLE_DIR}/cache')\n"
        f"os.environ.setdefault('TMPDIR', '{BUNDLE_DIR}/tmp')\n\n"
        "from multiarch.cli import main  # noqa: E402\n\n"
        "main()\n"
    )
    entry.chmod(0o755)


def _compile(dest: Path) -> None:
    """Byte-code for every module, compiled here (byte-code does not depend on the CPU) when
    this Python is the bundle's version; hash-based, so copies need not keep mtimes."""
    if sys.version_info[:2] != (3, 11):
        return
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
         "unchecked-hash", "-s", str(dest), "-p", str(BUNDLE_DIR), str(dest / "lib")],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
