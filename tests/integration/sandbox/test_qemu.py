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
