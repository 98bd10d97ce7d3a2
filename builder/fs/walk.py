"""Walk snapshotter: the fallback when overlayfs cannot be mounted (unprivileged container).

API: `WalkSnapshot(root, ignore=DEFAULT_IGNORES, full=False, watch=False)` records a
metadata index of `root` when created; after the step, `changes() -> list[Change]` compares
the tree with the index and records the new state as the baseline for the next step;
`close()` when done.

With `watch=True` the kernel tells which directories had events since the last scan
(`builder.fs.dirwatch`, inotify: no privilege needed) and only those are listed again — a
directory new there is scanned whole — so a step's cost follows what it changed, not the size
of the root; where the watch is refused or dropped events, the whole root is walked.

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
from builder.fs.dirwatch import DirWatch
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
    def __init__(self, root: Path, ignore: Iterable[str] = DEFAULT_IGNORES, *, full: bool = False,
                 watch: bool = False) -> None:  # fmt: skip
        self.root = Path(root)
        self.ignore = normalize_ignores(ignore)
        self.full = full
        st = os.stat(self.root)
        whole_seconds = st.st_ctime_ns % 1_000_000_000 == st.st_mtime_ns % 1_000_000_000 == 0
        self.recent_ns = COARSE_RECENT_NS if whole_seconds else RECENT_NS
        self._ignored = set(self.ignore)  # a path under an ignored directory is never reached
        self._watch = DirWatch.open(self.root) if watch else None
        self.index: dict[str, _Meta] = {}
        self._children: dict[str, list[str]] = {}
        """The entries of each directory at its last listing (what a rescan compares)."""
        self._scan_tree("", {}, {})

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _meta(self, path: str, st: os.stat_result, before: _Meta | None, recent: int) -> _Meta:
        mode = st.st_mode
        digest = None
        if self.full and stat.S_ISREG(mode):
            if st.st_ctime_ns >= recent or (before and before.digest is not None):
                digest = _content_digest(path)
        return _Meta(
            mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
            st.st_nlink, os.readlink(path) if stat.S_ISLNK(mode) else None,
            _xattrs(path) if stat.S_ISDIR(mode) else None, digest,
        )

    def _list(self, rel_dir: str, previous: dict[str, _Meta], recent: int) -> dict[str, _Meta]:
        """One directory's entries (and device nodes recorded there), ignored paths left out;
        `previous` entries tell which files full mode must hash."""
        listed: dict[str, _Meta] = {}
        base = str(self.root)
        path = f"{base}/{rel_dir}" if rel_dir else base
        if devices.any_recorded():
            real = os.path.realpath(base)
            canonical = f"{real}/{rel_dir}" if rel_dir else real
            for name, header in devices.recorded_in(canonical).items():
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if rel not in self._ignored:
                    listed[rel] = _recorded_meta(header)
        with os.scandir(path) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if rel not in self._ignored:
                    listed[rel] = self._meta(entry.path, entry.stat(follow_symlinks=False),
                                             previous.get(rel), recent)
        return listed

    def _scan_tree(self, top: str, previous: dict[str, _Meta],
                   touched: dict[str, _Meta | None]) -> None:  # fmt: skip
        """List `top` and everything under it into the index (watching each directory before
        listing it), noting each path's previous entry in `touched`."""
        recent = time.time_ns() - self.recent_ns
        todo = [top]
        while todo:
            rel_dir = todo.pop()
            if self._watch is not None:
                self._watch.watch(rel_dir)
            listed = self._list(rel_dir, previous, recent)
            self._children[rel_dir] = list(listed)
            for rel, meta in listed.items():
                touched.setdefault(rel, self.index.get(rel))
                self.index[rel] = meta
                if meta.is_dir:
                    todo.append(rel)

    def _forget(self, top: str, touched: dict[str, _Meta | None]) -> None:
        todo = [top]
        while todo:
            rel = todo.pop()
            touched.setdefault(rel, self.index.get(rel))
            self.index.pop(rel, None)
            todo.extend(self._children.pop(rel, ()))

    def _rescan(self, dirty: set[str], touched: dict[str, _Meta | None]) -> None:
        """Bring the index up to date where the watch saw events: each dirty directory is
        listed again (itself re-read too); a directory new there (or replaced) is scanned
        whole, one only listed before keeps what is below it."""
        recent = time.time_ns() - self.recent_ns
        for rel_dir in sorted(dirty, key=lambda rel: rel.count("/") if rel else -1):
            if rel_dir and (rel_dir not in self.index or not self.index[rel_dir].is_dir):
                continue  # gone or replaced: its parent's listing dealt with it
            path = f"{self.root}/{rel_dir}" if rel_dir else str(self.root)
            try:
                listed = self._list(rel_dir, self.index, recent)
                if rel_dir:
                    current = self.index[rel_dir]
                    touched.setdefault(rel_dir, current)
                    self.index[rel_dir] = self._meta(path, os.lstat(path), current, recent)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for rel in set(self._children.get(rel_dir, ())) - listed.keys():
                self._forget(rel, touched)
            self._children[rel_dir] = list(listed)
            for rel, meta in listed.items():
                old = self.index.get(rel)
                touched.setdefault(rel, old)
                self.index[rel] = meta
                same_dir = old is not None and old.is_dir and meta.is_dir and old.ino == meta.ino
                if old is not None and old.is_dir and not same_dir:
                    for child in self._children.pop(rel, ()):
                        self._forget(child, touched)
                if meta.is_dir and not same_dir:
                    self._scan_tree(rel, self.index, touched)

    def changes(self, exclude: Iterable[str] = ()) -> list[Change]:
        """What changed since the last call; paths under `exclude` (a step's mount targets)
        are left out before their ancestors are added, so they add no ancestor either."""
        touched: dict[str, _Meta | None] = {}
        dirty = self._watch.take() if self._watch is not None else None
        if dirty is None:
            old_index = self.index
            self.index, self._children = {}, {}
            self._scan_tree("", old_index, {})
            touched = {rel: old_index.get(rel) for rel in old_index.keys() | self.index.keys()}
        else:
            self._rescan(dirty, touched)
        found = self._compare(touched)
        skip = normalize_ignores(exclude)
        kept = {path: c for path, c in found.items() if not is_ignored(path, skip)}
        return with_ancestors(kept, self.root)

    def _compare(self, touched: dict[str, _Meta | None]) -> dict[str, Change]:
        """The changes among `touched` paths (each with its previous entry) and the index."""
        found: dict[str, Change] = {}
        replaced: set[str] = set()  # dirs whose old contents are gone wholesale
        for rel in sorted(touched):
            old, new = touched[rel], self.index.get(rel)
            parent = rel.rpartition("/")[0]
            if new is None:
                survivor = self.index.get(parent) if parent else None
                if old is None or parent and (survivor is None or not survivor.is_dir
                                              or parent in replaced):
                    continue
                found[rel] = Change(rel, ChangeKind.DELETE)
                continue
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
        return found
