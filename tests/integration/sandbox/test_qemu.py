"""QEMU emulators in the real binfmt_misc; a fake binfmt_misc dir only for states we must not
create on a shared host (no emulator at all)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builder.errors import SandboxError
from builder.oci.platform import parse_platform
from builder.sandbox import emulator_for, ensure_emulator, install, qemu, runs_natively, status


def test_install_is_idempotent_and_registers_with_fix_binary_flag():
    first = install(["arm64"])
    second = install(["aarch64"])
    assert [h.name for h in first] == [h.name for h in second] == ["qemu-aarch64"]
    handler = second[0]
    assert handler.enabled and "F" in handler.flags and handler.architecture == "arm64"
    assert handler in status()
    assert emulator_for(parse_platform("linux/arm64")) == handler
    assert ensure_emulator(parse_platform("linux/arm64/v8")) == handler


def test_install_replaces_a_registration_without_the_f_flag():
    entry = qemu.BINFMT_MISC / "qemu-mips64"
    if entry.exists():
        entry.write_text("-1")
    line = (qemu.BINFMT_D / "qemu-mips64.conf").read_text().strip()
    (qemu.BINFMT_MISC / "register").write_text(line.rsplit(":", 1)[0] + ":P")
    with pytest.raises(SandboxError, match="without the F flag") as err:
        ensure_emulator(parse_platform("linux/mips64"))
    assert "multiarch qemu install" in err.value.hint
    (handler,) = install(["mips64"])
    assert "F" in handler.flags and ensure_emulator(parse_platform("linux/mips64")) == handler


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/386", "linux/amd64/v2"])
def test_host_platforms_need_no_emulator(platform: str):
    assert runs_natively(parse_platform(platform))
    assert ensure_emulator(parse_platform(platform)) is None


def test_missing_emulator_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake = tmp_path / "binfmt_misc"
    fake.mkdir()
    (fake / "register").touch()
    (fake / "status").write_text("enabled\n")
    monkeypatch.setattr(qemu, "BINFMT_MISC", fake)
    with pytest.raises(SandboxError, match="no emulator registered for linux/arm64") as err:
        ensure_emulator(parse_platform("linux/arm64"))
    assert "multiarch qemu install" in err.value.hint


def test_install_without_qemu_user_static(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(qemu, "BINFMT_D", tmp_path)
    with pytest.raises(SandboxError, match="no QEMU emulator for s390x") as err:
        install(["s390x"])
    assert "qemu-user-static" in err.value.hint


def multiarch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "multiarch.cli", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_cli_install_and_status():
    done = multiarch("qemu", "install", "arm64")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ready: qemu-aarch64 -> /usr/libexec/qemu-binfmt/")
    table = multiarch("qemu", "status")
    assert table.returncode == 0
    row = next(line.split() for line in table.stdout.splitlines() if "qemu-aarch64" in line)
    assert row[0] == "arm64" and row[-1] == "yes" and "F" in row[-2]


def test_cli_unknown_architecture_is_one_clear_line():
    done = multiarch("qemu", "install", "vax")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == "error: unknown architecture 'vax'"


def test_exit0_program_is_a_real_arm64_executable(tmp_path: Path):
    program = qemu.exit0_program(183, qemu._EXIT0_CODE["arm64"])
    (tmp_path / "exit0").write_bytes(program)
    (tmp_path / "exit0").chmod(0o755)
    described = subprocess.run(["file", "-b", str(tmp_path / "exit0")], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
    assert described.startswith("ELF 64-bit LSB executable, ARM aarch64") and len(program) == 132
    # Run by the emulator itself, not through binfmt_misc: the code really is exit(0).
    assert subprocess.run(["qemu-aarch64-static", str(tmp_path / "exit0")]).returncode == 0


def test_without_binfmt_misc_mounted_the_emulator_is_found_by_running_a_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A container: binfmt_misc is not mounted, the host's handlers still run arm64 code."""
    monkeypatch.setattr(qemu, "BINFMT_MISC", tmp_path / "binfmt_misc")
    assert ensure_emulator(parse_platform("linux/arm64")) is None
    assert ensure_emulator(parse_platform("linux/riscv64")) is None
    assert status() == [] and not (tmp_path / "binfmt_misc").exists()  # nothing mounted


def test_without_binfmt_misc_a_machine_nobody_emulates_is_one_error_naming_the_host_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(qemu, "BINFMT_MISC", tmp_path / "binfmt_misc")
    # A machine number no handler matches: the kernel refuses the program (ENOEXEC).
    monkeypatch.setitem(qemu.MACHINES, "arm64", qemu.Machine("aarch64", 2, True, 0x7777))
    with pytest.raises(SandboxError) as err:
        ensure_emulator(parse_platform("linux/arm64"))
    assert str(err.value) == (
        "cannot run linux/arm64 programs here (no binfmt handler for it is registered on the "
        "host); binfmt_misc is not mounted in this container, so the emulator must come from "
        "the host"
    )
    assert "multiarch qemu install" in err.value.hint and "--privileged" in err.value.hint
