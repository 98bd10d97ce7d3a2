"""Where mounting is not allowed (a container without CAP_SYS_ADMIN), simulated for real by
dropping capabilities from the bounding set with setpriv: auto falls back and says why, or
says that nothing works (`none` would need the build root to be "/")."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.capabilities import without_caps

SCRIPT = """
import logging, sys
from builder.errors import SandboxError
from builder.sandbox import RunSpec, resolve_isolation, run
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
try:
    picked = resolve_isolation("auto")
except SandboxError as err:
    sys.exit(print("auto refused:", err, "| hint:", err.hint))
try:
    resolve_isolation("namespace")
except SandboxError as err:
    print("refused:", err, "| hint:", err.hint)
if picked.value == "chroot":
    script = "id -u; echo x >/dev/null && echo ok"
    spec = RunSpec(root=sys.argv[1], argv=("/bin/sh", "-c", script), env=("PATH=/bin",),
                   uid=1000, gid=1000)
    code = run(spec, "chroot", print)
    print("exit", code)
"""


def run_auto(caps: str, root: Path) -> list[str]:
    done = without_caps(caps, SCRIPT, str(root))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_without_sys_admin_auto_uses_chroot_and_it_runs(busybox_rootfs):
    lines = run_auto("-sys_admin", busybox_rootfs("amd64"))
    assert lines[0] == (
        "isolation auto: using chroot (no namespaces (unshare: Operation not permitted))"
    )
    assert lines[1].startswith("refused: --isolation namespace is not possible here")
    assert "pass --isolation chroot" in lines[1]
    assert lines[2:] == ["1000", "ok", "exit 0"]


def test_without_sys_admin_and_sys_chroot_auto_refuses(busybox_rootfs):
    lines = run_auto("-sys_admin,-sys_chroot", busybox_rootfs("amd64"))
    assert lines[0].startswith("auto refused: no isolation works here: no namespaces (")
    assert "no chroot: Operation not permitted | hint: chroot isolation needs" in lines[0]
    assert "--isolation none" not in lines[0]
