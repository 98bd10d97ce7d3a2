"""The walk snapshotter with the kernel's directory watch (inotify): the same changes as the
whole-root walk, step after step, for any sequence of filesystem operations; work that follows
what a step changed; the whole walk again when the kernel drops events or refuses a watch."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.fs import dirwatch, walk
from builder.fs.changes import ChangeKind
from builder.fs.walk import WalkSnapshot

DIRS = ("a", "a/b", "a/b/c", "d", "d/e")
NAMES = ("f", "g", "a/f", "a/b/f", "a/b/c/f", "d/f", "d/e/f", "d/e/g")
PATHS = DIRS + NAMES
OPS = ("write", "append", "delete", "mkdir", "rmtree", "rename", "chmod", "symlink", "hardlink",
       "utime")


def base_tree(root: Path) -> None:
    for d in DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        (root / name).write_text(name)


def apply(root: Path, op: str, a: str, b: str) -> None:
    """One operation; what fails (missing path, non-empty dir...) fails alike in every copy.
    Hard links stay within one directory: a change through one name is not an event of the
    directory holding the other (the documented limit, overlayfs' copy-up semantics)."""
    pa, pb = root / a, root / b
    try:
        if (op in ("write", "append", "chmod", "utime") and pa.is_file()
                and os.lstat(pa).st_nlink > 1):
            return  # through a second name elsewhere: the one case inotify cannot place
        if op == "write":
            pa.write_text(f"{op} {b}")
        elif op == "append":
            with open(pa, "a") as f:
                f.write("+")
        elif op == "delete":
            pa.unlink()
        elif op == "mkdir":
            pa.mkdir()
        elif op == "rmtree":
            shutil.rmtree(pa)
        elif op == "rename":
            os.rename(pa, pb)
        elif op == "chmod":
            pa.chmod(0o700 if pa.is_dir() else 0o600)
        elif op == "symlink":
            os.symlink(b, pa)
        elif op == "hardlink" and pa.parent == pb.parent:  # across directories: see above
            os.link(pa, pb, follow_symlinks=False)
        elif op == "utime":
            os.utime(pa, ns=(1_000_000_000, 1_000_000_000), follow_symlinks=False)
    except OSError:
        pass


def kinds(changes) -> list[tuple[str, ChangeKind]]:
    return [(c.path, c.kind) for c in changes]


operation = st.tuples(st.sampled_from(OPS), st.sampled_from(PATHS), st.sampled_from(PATHS))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.lists(operation, max_size=8), min_size=1, max_size=4), full=st.booleans())
def test_watched_walk_reports_what_the_whole_walk_reports(steps, full):
    top = Path(tempfile.mkdtemp(prefix="walk-watch-", dir="/dev/shm"))
    try:
        roots = (top / "walked", top / "watched")
        for root in roots:
            base_tree(root)
        walked = WalkSnapshot(roots[0], (), full=full)
        watched = WalkSnapshot(roots[1], (), full=full, watch=True)
        try:
            for ops in steps:
                for op in ops:
                    for root in roots:
                        apply(root, *op)
                assert kinds(watched.changes()) == kinds(walked.changes()), ops
        finally:
            watched.close()
    finally:
        shutil.rmtree(top)


def test_a_step_lists_only_the_directories_it_changed(shm, monkeypatch):
    root = shm / "big"
    for i in range(200):
        (root / f"dir{i}" / "sub").mkdir(parents=True)
        (root / f"dir{i}" / "sub" / "file").write_text(str(i))
    snapshot = WalkSnapshot(root, (), watch=True)
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(walk.os, "scandir", lambda p: listed.append(p) or real_scandir(p))
    (root / "dir7" / "sub" / "file").write_text("changed")
    (root / "dir9" / "new" / "deeper").mkdir(parents=True)
    assert kinds(snapshot.changes()) == [
        ("dir7", ChangeKind.ADD), ("dir7/sub", ChangeKind.ADD), ("dir7/sub/file", ChangeKind.ADD),
        ("dir9", ChangeKind.ADD), ("dir9/new", ChangeKind.ADD), ("dir9/new/deeper", ChangeKind.ADD),
    ]
    assert sorted(listed) == sorted(str(root / d) for d in ("dir7/sub", "dir9", "dir9/new",
                                                             "dir9/new/deeper"))
    snapshot.close()


def test_dropped_events_mean_a_whole_walk(shm):
    """The kernel's queue overflows while nothing drains it: the snapshot walks it all."""
    root = shm / "r"
    root.mkdir()
    snapshot = WalkSnapshot(root, (), watch=True)
    assert snapshot._watch is not None
    queue = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    with snapshot._watch._lock:  # the drain thread waits: events pile up in the kernel
        for i in range(queue // 2 + 100):
            (root / f"f{i}").touch()
    changes = snapshot.changes()
    assert len(changes) == queue // 2 + 100
    (root / "f1").write_text("after the overflow, the watch goes on")
    assert kinds(snapshot.changes()) == [("f1", ChangeKind.ADD)]
    snapshot.close()


_REAL_LIBC = dirwatch._libc


class _NoWatchesLeft:
    """libc whose inotify_add_watch fails as on a host whose max_user_watches are used up."""

    def __init__(self) -> None:
        self.inotify_init1 = _REAL_LIBC().inotify_init1

    def inotify_add_watch(self, fd: int, path: bytes, mask: int) -> int:
        ctypes.set_errno(errno.ENOSPC)
        return -1


def test_a_refused_watch_means_a_whole_walk(shm, monkeypatch, caplog):
    monkeypatch.setattr(dirwatch, "_libc", _NoWatchesLeft)
    root = shm / "r"
    (root / "a").mkdir(parents=True)
    snapshot = WalkSnapshot(root, (), watch=True)
    (root / "a" / "f").write_text("x")
    caplog.set_level("DEBUG", logger="builder.fs.dirwatch")
    assert kinds(snapshot.changes()) == [("a", ChangeKind.ADD), ("a/f", ChangeKind.ADD)]
    assert "refused (No space left on device)" in caplog.text
    snapshot.close()


def test_a_root_with_more_directories_than_the_cap_is_walked_whole(shm, monkeypatch, caplog):
    """Each watch costs the kernel memory charged to the container: past MAX_WATCHES
    directories the watch gives up and the snapshot walks the whole root."""
    monkeypatch.setattr(dirwatch, "MAX_WATCHES", 3)
    root = shm / "r"
    for d in ("a", "b", "c", "d"):
        (root / d).mkdir(parents=True)
    caplog.set_level("DEBUG", logger="builder.fs.dirwatch")
    snapshot = WalkSnapshot(root, (), watch=True)
    (root / "d" / "f").write_text("x")
    assert kinds(snapshot.changes()) == [("d", ChangeKind.ADD), ("d/f", ChangeKind.ADD)]
    assert "more than 3 directories" in caplog.text
    snapshot.close()
