"""The contract with builder.fs: a step on an overlay root leaves exactly its own change in the
upper dir; mount points and stubs of resolv.conf, hosts and RUN mounts are not captured."""

from __future__ import annotations

from pathlib import Path

from builder.fs.changes import DEFAULT_IGNORES, ChangeKind
from builder.fs.overlay import OverlaySnapshot
from builder.sandbox import BindMount, TmpfsMount
from tests.integration.sandbox.helpers import sh


def test_step_on_overlay_captures_only_its_own_change(rootfs_templates, tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    mounts = (BindMount(cache, "/var/cache/build"), TmpfsMount("/run/scratch"))
    snap = OverlaySnapshot([rootfs_templates.amd64], tmp_path / "snap")
    with snap:
        code, out = sh(snap.merged, "echo hi > /etc/motd; echo c > /var/cache/build/c; "
                       "echo s > /run/scratch/s; rm /bin/vi", mounts=mounts)  # fmt: skip
    assert code == 0, out.text
    changes = snap.changes(ignore=DEFAULT_IGNORES + tuple(m.target for m in mounts))
    assert [(c.path, c.kind) for c in changes] == [
        ("bin", ChangeKind.ADD),
        ("bin/vi", ChangeKind.DELETE),
        ("etc", ChangeKind.ADD),
        ("etc/motd", ChangeKind.ADD),
    ]
    assert (cache / "c").read_text() == "c\n"
