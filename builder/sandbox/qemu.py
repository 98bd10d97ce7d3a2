"""Foreign-architecture RUN steps: QEMU user-mode emulators registered in binfmt_misc.

A handler is usable when it is enabled and its magic/mask matches an ELF header of the
platform's machine. It must carry the fix-binary (F) flag: the kernel then opens the
interpreter at registration time, so it works inside a chroot that has no QEMU in it.

Where binfmt_misc is not mounted (a container: the host's handlers still apply to it, but
mounting it needs CAP_SYS_ADMIN), an emulator is found by running a tiny program of that
machine (`exit0_program`): it starts only through a handler whose interpreter the kernel can
open here, which is what a RUN step in a chroot needs too. Only `install` mounts binfmt_misc.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from builder.errors import SandboxError
from builder.oci.models import Platform
from builder.oci.platform import format_platform, host_platform, normalize_arch

BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")
BINFMT_D = Path("/usr/lib/binfmt.d")
INSTALL_HINT = "run `multiarch qemu install` (as root; needs Debian's qemu-user-static)"
CONTAINER_HINT = (
    "register the emulators once on the host (binfmt handlers with the F flag reach every "
    "container): run `multiarch qemu install` there, or `docker run --privileged --rm "
    "IMAGE qemu install` with this project's image"
)


@dataclass(frozen=True)
class Machine:
    qemu_name: str
    elf_class: int  # 1: 32-bit, 2: 64-bit
    little_endian: bool
    e_machine: int

    def elf_header(self) -> bytes:
        """The first 20 bytes of an executable (ET_EXEC) for this machine."""
        order: Literal["little", "big"] = "little" if self.little_endian else "big"
        ident = b"\x7fELF" + bytes([self.elf_class, 1 if self.little_endian else 2, 1]) + bytes(9)
        return ident + (2).to_bytes(2, order) + self.e_machine.to_bytes(2, order)


# OCI architecture -> machine; qemu names are what binfmt.d files and handlers are called.
MACHINES: dict[str, Machine] = {
    "amd64": Machine("x86_64", 2, True, 62),
    "386": Machine("i386", 1, True, 3),
    "arm64": Machine("aarch64", 2, True, 183),
    "arm": Machine("arm", 1, True, 40),
    "ppc64le": Machine("ppc64le", 2, True, 21),
    "ppc64": Machine("ppc64", 2, False, 21),
    "s390x": Machine("s390x", 2, False, 22),
    "riscv64": Machine("riscv64", 2, True, 243),
    "mips64le": Machine("mips64el", 2, True, 8),
    "mips64": Machine("mips64", 2, False, 8),
    "mipsle": Machine("mipsel", 1, True, 8),
    "mips": Machine("mips", 1, False, 8),
    "loong64": Machine("loongarch64", 2, True, 258),
}
_ARCH_BY_QEMU_NAME = {m.qemu_name: arch for arch, m in MACHINES.items()}
# Architectures a host runs without emulation, beyond its own.
_ALSO_NATIVE = {"amd64": {"386"}}


@dataclass(frozen=True)
class Handler:
    """One binfmt_misc registration (/proc/sys/fs/binfmt_misc/NAME)."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes

    @property
    def architecture(self) -> str | None:
        """The OCI architecture this handler runs, if it is one we know."""
        for arch, machine in MACHINES.items():
            if self.matches(machine.elf_header()):
                return arch
        return None

    def matches(self, header: bytes) -> bool:
        window = header[self.offset : self.offset + len(self.magic)]
        if len(window) < len(self.magic):
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        return all((h & m) == (g & m) for h, g, m in zip(window, self.magic, mask))


def _parse_handler(path: Path) -> Handler | None:
    fields: dict[str, str] = {}
    enabled = False
    for line in path.read_text().splitlines():
        if line in ("enabled", "disabled"):
            enabled = line == "enabled"
        elif " " in line:
            key, value = line.split(" ", 1)
            fields[key] = value.strip()
    if "magic" not in fields:  # an extension-based handler, never an emulator
        return None
    return Handler(
        name=path.name,
        enabled=enabled,
        interpreter=fields.get("interpreter", ""),
        flags=fields.get("flags:", "").strip(),
        offset=int(fields.get("offset", "0")),
        magic=bytes.fromhex(fields["magic"]),
        mask=bytes.fromhex(fields.get("mask", "")),
    )


def mount_binfmt_misc() -> None:
    """Mount binfmt_misc where the kernel expects it (no systemd here does it for us)."""
    if (BINFMT_MISC / "register").exists():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"binfmt_misc", str(BINFMT_MISC).encode(), b"binfmt_misc", 0, None) != 0:
        raise SandboxError(
            f"cannot mount binfmt_misc at {BINFMT_MISC}: {os.strerror(ctypes.get_errno())}",
            hint="run as root, or have the host register QEMU handlers",
        )


def binfmt_misc_mounted() -> bool:
    return (BINFMT_MISC / "status").exists()


def status() -> list[Handler]:
    """All registered magic-based handlers, sorted by name ([] where binfmt_misc is not
    mounted: see `ensure_emulator`)."""
    if not binfmt_misc_mounted():
        return []
    handlers = []
    for entry in sorted(BINFMT_MISC.iterdir()):
        if entry.name not in ("register", "status"):
            handler = _parse_handler(entry)
            if handler is not None:
                handlers.append(handler)
    return handlers


def runs_natively(platform: Platform) -> bool:
    host = host_platform()
    arch = normalize_arch(platform.architecture, platform.variant)[0]
    return platform.os == host.os and (
        arch == host.architecture or arch in _ALSO_NATIVE.get(host.architecture, set())
    )


def machine_of(platform: Platform) -> Machine:
    arch = normalize_arch(platform.architecture, platform.variant)[0]
    machine = MACHINES.get(arch)
    if machine is None or platform.os != "linux":
        raise SandboxError(f"cannot run steps for {format_platform(platform)}: no emulator known")
    return machine


def emulator_for(platform: Platform) -> Handler | None:
    """The enabled handler that runs `platform`'s executables, or None (also when native)."""
    if runs_natively(platform):
        return None
    header = machine_of(platform).elf_header()
    return next((h for h in status() if h.enabled and h.matches(header)), None)


def ensure_emulator(platform: Platform) -> Handler | None:
    """None for a native platform, or where binfmt_misc is not mounted and a program of the
    platform ran; else its usable handler. Raises SandboxError saying what to do."""
    if runs_natively(platform):
        return None
    name = format_platform(platform)
    if not binfmt_misc_mounted():
        _ensure_runs_here(platform)
        return None
    handler = emulator_for(platform)
    if handler is None:
        raise SandboxError(
            f"no emulator registered for {name}: this {host_platform().architecture} host "
            "cannot run its RUN steps",
            hint=INSTALL_HINT,
        )
    if "F" not in handler.flags:
        raise SandboxError(
            f"the emulator for {name} ({handler.name}) is registered without the F flag, "
            "so it cannot run inside the build root",
            hint=INSTALL_HINT + "; it re-registers handlers with the F flag",
        )
    return handler


# exit(0) as machine code: `mov x0, #0; mov x8, #93; svc #0` (arm64) and
# `li a0, 0; li a7, 93; ecall` (riscv64); 93 is exit in the generic syscall table.
_EXIT0_CODE = {
    "arm64": struct.pack("<3I", 0xD2800000, 0xD2800BA8, 0xD4000001),
    "riscv64": struct.pack("<3I", 0x00000513, 0x05D00893, 0x00000073),
}
_LOAD_ADDRESS = 0x400000


def exit0_program(e_machine: int, code: bytes) -> bytes:
    """A static 64-bit little-endian ELF executable running `code`: the ELF header, one
    PT_LOAD program header mapping the whole file, then the code (132 bytes for 12 of code).
    Built here rather than shipped, so every byte is explained by this function."""
    header_size, phdr_size = 64, 56
    total = header_size + phdr_size + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)  # 64-bit, little-endian, version 1
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2, e_machine, 1,  # ET_EXEC, machine, EV_CURRENT
        _LOAD_ADDRESS + header_size + phdr_size, header_size, 0,  # entry, phoff, shoff
        0, header_size, phdr_size, 1, 0, 0, 0,  # flags, sizes, one phdr, no sections
    )  # fmt: skip
    phdr = struct.pack(
        "<IIQQQQQQ", 1, 5, 0, _LOAD_ADDRESS, _LOAD_ADDRESS, total, total, 0x1000
    )  # PT_LOAD, R+X, offset 0, vaddr, paddr, filesz, memsz, align
    return header + phdr + code


def _ensure_runs_here(platform: Platform) -> None:
    arch = normalize_arch(platform.architecture, platform.variant)[0]
    code = _EXIT0_CODE.get(arch)
    if code is None:  # no test program for it: the first RUN step shows what happens
        return
    name = format_platform(platform)
    why = run_program(exit0_program(machine_of(platform).e_machine, code))
    if why is not None:
        raise SandboxError(
            f"cannot run {name} programs here ({why}); binfmt_misc is not mounted in this "
            "container, so the emulator must come from the host",
            hint=CONTAINER_HINT,
        )


_WRITE_STDIN_TO = (
    "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755); "
    "os.write(fd, sys.stdin.buffer.read())"
)


def run_program(program: bytes) -> str | None:
    """Run `program` from a temporary file: None when it exits 0, else why it did not."""
    with tempfile.TemporaryDirectory(prefix="multiarch-emulator-") as tmp:
        path = os.path.join(tmp, "exit0")
        # Written by a child process: a write descriptor open here could be inherited by a
        # process another thread forks meanwhile (the isolation probe), and until that child
        # execs, running the file fails with ETXTBSY ("Text file busy").
        subprocess.run([sys.executable, "-I", "-S", "-c", _WRITE_STDIN_TO, path], input=program,
                       check=True)
        try:
            done = subprocess.run([path], capture_output=True, timeout=60, check=False)
        except OSError as err:
            if err.errno == errno.ENOEXEC:
                return "no binfmt handler for it is registered on the host"
            if err.errno == errno.ENOENT:
                return "its handler's interpreter is not here: registered without the F flag"
            return f"exec: {err.strerror}"
        if done.returncode != 0:
            output = done.stderr.decode(errors="replace").strip().splitlines()
            return f"exit {done.returncode}" + (f": {output[-1]}" if output else "")
    return None


def _qemu_name(arch: str) -> str:
    if arch in _ARCH_BY_QEMU_NAME:
        return arch
    machine = MACHINES.get(normalize_arch(arch, None)[0])
    if machine is None:
        raise SandboxError(
            f"unknown architecture {arch!r}", hint=f"known: {', '.join(sorted(MACHINES))}"
        )
    return machine.qemu_name


_CONF = re.compile(r"^:(?P<name>[^:]+):(?P<body>.*):(?P<flags>[A-Z]*)$")


def installable() -> list[str]:
    """qemu names with a binfmt.d file from qemu-user-static, minus what runs natively."""
    host = host_platform().architecture
    native_arches = {host, *_ALSO_NATIVE.get(host, set())}
    native = {MACHINES[a].qemu_name for a in native_arches if a in MACHINES}
    names = [p.name[len("qemu-") : -len(".conf")] for p in sorted(BINFMT_D.glob("qemu-*.conf"))]
    return [n for n in names if n not in native]


def install(arches: Sequence[str] = ()) -> list[Handler]:
    """Register QEMU handlers with the F flag for `arches` (default: all installed); idempotent.

    Returns the handlers now registered for them.
    """
    names = [_qemu_name(a) for a in arches] if arches else installable()
    mount_binfmt_misc()
    for name in names:
        _register(name)
    wanted = {f"qemu-{n}" for n in names}
    return [h for h in status() if h.name in wanted]


def _register(qemu_name: str) -> None:
    conf = BINFMT_D / f"qemu-{qemu_name}.conf"
    if not conf.exists():
        raise SandboxError(
            f"no QEMU emulator for {qemu_name} is installed ({conf} is missing)",
            hint="apt-get install qemu-user-static",
        )
    match = _CONF.match(conf.read_text().strip())
    if match is None:
        raise SandboxError(f"{conf}: not a binfmt_misc registration line")
    flags = match["flags"] if "F" in match["flags"] else match["flags"] + "F"
    line = f":{match['name']}:{match['body']}:{flags}"
    interpreter = match["body"].rsplit(":", 1)[1]
    entry = BINFMT_MISC / match["name"]
    if entry.exists():
        current = _parse_handler(entry)
        if current and current.enabled and "F" in current.flags:
            if current.interpreter == interpreter:
                return
        _write(entry, b"-1")  # replace a disabled, non-F or foreign registration
    _write(BINFMT_MISC / "register", line.encode())


def _write(path: Path, data: bytes) -> None:
    # binfmt_misc wants the whole registration in a single write().
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as err:
        raise SandboxError(
            f"cannot write {path}: {err.strerror}", hint="registering emulators needs root"
        ) from err
