"""Where mounting is not allowed (a container without CAP_SYS_ADMIN), simulated for real by
dropping capabilities from the bounding set with setpriv: auto falls back to PRoot (the steps
keep /proc, /dev and /sys), to chroot without PRoot (they do not), and says which and why, or
says that nothing works (`none` would need the build root to be "/")."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

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
script = (
    "id -u; echo x >/dev/null && echo ok; ls /proc/self/fd | tr '\\\\n' ' '; echo; "
    "head -c 8 /dev/urandom | wc -c; readlink /proc/self/exe; pwd"
)
spec = RunSpec(root=sys.argv[1], argv=("/bin/sh", "-c", script), env=("PATH=/bin",),
               uid=1000, gid=1000, cwd="/home/builder/app")
try:
    print("exit", run(spec, picked, print))
except SandboxError as err:
    print("error:", err)
"""


@pytest.fixture
def reachable_root(busybox_rootfs) -> Iterator[Path]:
    """A busybox root whose path every user may pass (PRoot runs as the step's user)."""
    parent = Path(tempfile.mkdtemp(prefix="unprivileged-", dir="/var/tmp"))
    parent.chmod(0o711)
    root = parent / "root"
    busybox_rootfs("amd64").rename(root)
    yield root
    shutil.rmtree(parent)


def run_auto(caps: str, root: Path, path: str = os.environ["PATH"]) -> list[str]:
    done = without_caps(caps, SCRIPT, str(root), env={**os.environ, "PATH": path})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_without_sys_admin_auto_uses_proot_and_the_step_has_proc_and_dev(reachable_root):
    root = reachable_root
    lines = run_auto("-sys_admin,-mknod", root)
    assert lines[0] == (
        "isolation auto: using proot (no namespaces (unshare: Operation not permitted); "
        "PRoot gives steps /proc, /dev and /sys)"
    )
    assert lines[1].startswith("refused: --isolation namespace is not possible here")
    assert "pass --isolation chroot" in lines[1]
    assert lines[2:] == ["1000", "ok", "0 1 2 3 ", "8", "/bin/busybox", "/home/builder/app",
                         "exit 0"]  # fmt: skip
    assert sorted(os.listdir(root / "dev")) == [] and not (root / "etc/hosts").exists()
    assert (root / "home/builder/app").stat().st_uid == 1000


def test_without_sys_admin_and_proot_auto_uses_chroot_without_proc(busybox_rootfs, tmp_path):
    lines = run_auto("-sys_admin,-mknod", busybox_rootfs("amd64"), path=str(tmp_path))
    assert lines[:2] == [
        "isolation auto: using chroot (no namespaces (unshare: Operation not permitted) and "
        "no PRoot)",
        "warning: --isolation chroot: RUN steps get no /proc (unshare: Operation not "
        "permitted) and no device nodes in /dev (mknod: Operation not permitted)",
    ]
    # /dev/null is missing: the redirection fails and the step goes on; no /proc either.
    assert lines[3] == "1000" and lines[-1] == "exit 0"
    assert "ok" not in lines and "/bin/busybox" not in lines


def test_chroot_without_sys_admin_has_device_nodes_but_no_proc(busybox_rootfs, tmp_path):
    root = busybox_rootfs("amd64")
    before = {str(p.relative_to(root)) for p in root.rglob("*")}
    lines = run_auto("-sys_admin", root, path=str(tmp_path))
    assert lines[1] == ("warning: --isolation chroot: RUN steps get no /proc (unshare: "
                        "Operation not permitted)")  # fmt: skip
    assert lines[3:5] == ["1000", "ok"] and "/bin/busybox" not in lines
    after = {str(p.relative_to(root)) for p in root.rglob("*")}
    assert after - before <= {"home/builder", "home/builder/app"} and before <= after


def test_without_sys_admin_and_sys_chroot_auto_refuses(busybox_rootfs):
    lines = run_auto("-sys_admin,-sys_chroot", busybox_rootfs("amd64"))
    assert lines[0].startswith("auto refused: no isolation works here: no namespaces (")
    assert "no chroot: Operation not permitted | hint: chroot isolation needs" in lines[0]
    assert "--isolation none" not in lines[0]


def test_a_user_step_under_proot_names_the_directory_it_cannot_pass(busybox_rootfs):
    root = busybox_rootfs("amd64")  # under pytest's own 0700 directory
    lines = run_auto("-sys_admin,-mknod", root)
    blocked = next(p for p in root.parents if not p.stat().st_mode & 0o001)
    assert lines[2:] == [
        "error: a RUN step as uid 1000 cannot reach the build root under --isolation proot: "
        f"{blocked} is mode 700"
    ]
