"""Walk snapshotter: the fallback when overlayfs cannot be mounted (unprivileged container).

API: `WalkSnapshot(root, ignore=DEFAULT_IGNORES, full=False)` records a metadata index of
`root` when created; after the step, `changes() -> list[Change]` compares the tree with the
index and records the new state as the baseline for the next step.

Index per path: type+mode, uid, gid, size, mtime ns, ctime ns, inode, link count, symlink
target, xattrs (directories), and with `full=True` the sha256 of regular files (kaniko's
`--snapshot-mode full`) — of those whose metadata cannot prove them unchanged: a write moves
a file's ctime to the kernel's clock, which no one can set back, so a file whose ctime is
older than the scan (less RECENT_NS, the clock's granularity with room to spare; 2 s on a
filesystem that keeps whole seconds) and the same at the next scan was not written; only
files changed just before a scan (and since) are hashed, not the whole base. A
non-directory whose ctime (or any other field) moved is ADD — unless its link count moved
too and nothing else did: a new (or removed) hard link to it is no change of the file
(BuildKit and buildah agree);
a directory is ADD when its mode, owner, mtime or xattrs changed (a directory's ctime moves
whenever a child comes or goes, which is not a change of the directory itself), OPAQUE when
it was replaced (new inode, or it used to be something else); a vanished path under a
surviving directory is DELETE. Ancestors of changes are added, so the list matches what
`OverlaySnapshot.changes()` gives for the same step (sources here point into `root`).
A device node an unpack could not create (`builder.fs.devices`) is listed as if it were on
disk: its change carries the recorded header, so the layer re-emits it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from builder.fs import devices
from builder.fs.changes import (
    DEFAULT_IGNORES,
    Change,
    ChangeKind,
    image_xattrs,
    is_ignored,
    normalize_ignores,
    with_ancestors,
)
from builder.fs.tarformat import TarEntry

CHUNK = 1 << 20
RECENT_NS = 50_000_000
"""ctimes within this of a scan's start may share a clock tick with a write still to come."""
COARSE_RECENT_NS = 2_000_000_000
"""The same on a filesystem that keeps whole seconds (ext4 with 128-byte inodes, ext3)."""


@dataclass(frozen=True, slots=True)
class _Meta:
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    nlink: int
    link: str | None
    xattrs: tuple[tuple[str, bytes], ...] | None
    digest: bytes | None
    device: TarEntry | None = None  # a recorded device node: not on disk

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


def _xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    return tuple(sorted(image_xattrs(Path(path)).items()))


def _content_digest(path: str) -> bytes:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        while chunk := os.read(fd, CHUNK):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.digest()


def _only_relinked(old: _Meta, new: _Meta) -> bool:
    # The link moved the ctime, so the new scan may have hashed a file the old one did not.
    digest = new.digest if old.digest is not None else None
    return new.nlink != old.nlink and replace(
        new, ctime_ns=old.ctime_ns, nlink=old.nlink, digest=digest) == old


def _recorded_meta(header: TarEntry) -> _Meta:
    return _Meta(0, header.uid, header.gid, 0, int(header.mtime * 1e9), 0, 0, 1, None, None, None,
                 header)


class WalkSnapshot:
    def __init__(self, root: Path, ignore: Iterable[str] = DEFAULT_IGNORES, *, full: bool = False) -> None:
        self.root = Path(root)
        self.ignore = normalize_ignores(ignore)
        self.full = full
        st = os.stat(self.root)
        whole_seconds = st.st_ctime_ns % 1_000_000_000 == st.st_mtime_ns % 1_000_000_000 == 0
        self.recent_ns = COARSE_RECENT_NS if whole_seconds else RECENT_NS
        self.index = self._scan({})

    def _scan(self, previous: dict[str, _Meta]) -> dict[str, _Meta]:
        index: dict[str, _Meta] = {}
        recent = time.time_ns() - self.recent_ns
        ignored = set(self.ignore)  # a path under an ignored directory is never reached
        todo = [""]
        base = str(self.root)
        real = os.path.realpath(base) if devices.any_recorded() else base
        while todo:
            rel_dir = todo.pop()
            path = f"{base}/{rel_dir}" if rel_dir else base
            canonical = f"{real}/{rel_dir}" if rel_dir else real
            for name, header in devices.recorded_in(canonical).items():
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if rel not in ignored:
                    index[rel] = _recorded_meta(header)
            with os.scandir(path) as entries:
                for entry in entries:
                    rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                    if rel in ignored:
                        continue
                    st = entry.stat(follow_symlinks=False)
                    mode = st.st_mode
                    is_dir = stat.S_ISDIR(mode)
                    digest = None
                    if self.full and stat.S_ISREG(mode):
                        before = previous.get(rel)
                        if st.st_ctime_ns >= recent or (before and before.digest is not None):
                            digest = _content_digest(entry.path)
                    index[rel] = _Meta(
                        mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                        st.st_ino, st.st_nlink,
                        os.readlink(entry.path) if stat.S_ISLNK(mode) else None,
                        _xattrs(entry.path) if is_dir else None, digest,
                    )
                    if is_dir:
                        todo.append(rel)
        return index

    def changes(self, exclude: Iterable[str] = ()) -> list[Change]:
        """What changed since the last call; paths under `exclude` (a step's mount targets)
        are left out before their ancestors are added, so they add no ancestor either."""
        old_index = self.index
        new_index = self._scan(old_index)
        found: dict[str, Change] = {}
        replaced: set[str] = set()  # dirs whose old contents are gone wholesale
        for rel in sorted(new_index):
            new = new_index[rel]
            old = old_index.get(rel)
            parent = rel.rpartition("/")[0]
            if old is None or parent in replaced:
                kind = ChangeKind.ADD
            elif new.is_dir and (not old.is_dir or old.ino != new.ino):
                kind = ChangeKind.OPAQUE
            elif new.is_dir:
                if (new.mode, new.uid, new.gid, new.mtime_ns, new.xattrs) == (
                    old.mode, old.uid, old.gid, old.mtime_ns, old.xattrs
                ):
                    continue
                kind = ChangeKind.ADD
            elif new == old or _only_relinked(old, new):
                continue
            else:
                kind = ChangeKind.ADD
            if new.is_dir and (kind is ChangeKind.OPAQUE or parent in replaced):
                replaced.add(rel)
            found[rel] = Change(rel, kind, None if new.device else self.root / rel,
                                header=new.device)
        for rel, old in old_index.items():
            if rel in new_index:
                continue
            parent = rel.rpartition("/")[0]
            survivor = new_index.get(parent) if parent else None
            if parent and (survivor is None or not survivor.is_dir or parent in replaced):
                continue
            found[rel] = Change(rel, ChangeKind.DELETE)
        self.index = new_index
        skip = normalize_ignores(exclude)
        kept = {path: c for path, c in found.items() if not is_ignored(path, skip)}
        return with_ancestors(kept, self.root)
