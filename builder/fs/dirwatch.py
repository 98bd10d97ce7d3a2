"""Which directories of a tree changed, told by the kernel (inotify), so the walk snapshotter
rescans those instead of the whole root: a step on a big base then costs what it changed.

API: `DirWatch.open(root)` (None where inotify is refused: seccomp, no watches left);
`watch(rel)` for each directory to follow (the walk adds them as it scans); `take()` the
directories (relative to `root`, "" for the root) with an event since the last `take()` —
a child created, deleted, moved, written, closed after writing or its attributes changed —
or None when the kernel dropped events (queue overflow) or a watch could not be added, and
only a full walk is sure. A thread drains the kernel's queue while a step runs, so long steps
do not overflow it; `take()` drains what is left itself, so every event of a finished step
is counted.

What inotify cannot see, and the walk then misses as the overlay snapshotter does: a write
to a hard-linked file through its other name in another directory (overlayfs breaks the link
on copy-up), and writes through a mount of the tree elsewhere.

inotify is three libc calls: ctypes, no library (pyinotify and inotify_simple add event
objects and nothing needed here, and are not maintained).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import struct
import threading
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
        | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)
_SELF_EVENTS = IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
_HEADER = struct.Struct("iIII")
_READ_SIZE = 1 << 16
BATCH_MS = 10
MAX_WATCHES = 32_768
"""Each watch costs the kernel ~1 KiB, charged to the container's memory: a root with more
directories than this is walked whole instead (32 MiB at most)."""


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    return libc


class DirWatch:
    def __init__(self, root: Path, fd: int, libc: ctypes.CDLL) -> None:
        self.root = os.fsencode(root)
        self._fd = fd
        self._libc = libc
        self._dirs: dict[int, str] = {}
        self._dirty: set[str] = set()
        self._reliable = True
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._drain_loop, name="dirwatch", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, root: Path) -> DirWatch | None:
        try:
            libc = _libc()
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError) as err:  # no libc symbol (musl without inotify)
            log.debug("inotify unavailable (%s): snapshots walk the whole root", err)
            return None
        if fd < 0:
            log.debug("inotify unavailable (%s): snapshots walk the whole root",
                      os.strerror(ctypes.get_errno()))
            return None
        return cls(Path(root), fd, libc)

    def watch(self, rel: str) -> None:
        """Follow directory `rel`; a failure (no watches left) makes `take()` say None."""
        if len(self._dirs) >= MAX_WATCHES:
            with self._lock:
                if self._reliable:
                    log.debug("more than %d directories: snapshots walk the whole root",
                              MAX_WATCHES)
                    self._reliable = False
            return
        path = self.root + b"/" + os.fsencode(rel) if rel else self.root
        wd = self._libc.inotify_add_watch(self._fd, path, MASK)
        with self._lock:
            if wd >= 0:
                self._dirs[wd] = rel  # a moved directory keeps its wd: now known by this name
            elif self._reliable:
                code = ctypes.get_errno()
                if code != errno.ENOENT:  # gone already: its parent's event covers it
                    log.debug("inotify watch on /%s refused (%s): snapshots walk the whole root",
                              rel, os.strerror(code))
                    self._reliable = False

    def take(self) -> set[str] | None:
        with self._lock:
            self._drain()
            dirty, reliable = self._dirty, self._reliable
            self._dirty, self._reliable = set(), True
        return dirty if reliable else None

    def close(self) -> None:
        """Stop following; the drain thread closes the descriptors as it leaves."""
        os.write(self._stop_w, b"x")

    def _drain_loop(self) -> None:
        poller, stop = select.poll(), select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        stop.register(self._stop_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._stop_r in ready:
                break
            with self._lock:
                self._drain()
            # A pause between reads lets the kernel merge a writer's run of identical events
            # (a 64 MiB file written 4 KiB at a time is one event, not 16,384 wake-ups).
            if stop.poll(BATCH_MS):
                break
        for fd in (self._fd, self._stop_r, self._stop_w):
            os.close(fd)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            self._record(data)

    def _record(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            wd, mask, _cookie, size = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size + size
            if mask & IN_Q_OVERFLOW:
                self._reliable = False
                continue
            rel = self._dirs.get(wd)
            if rel is None:
                continue
            if mask & IN_IGNORED:
                del self._dirs[wd]
            elif size:
                self._dirty.add(rel)
            elif mask & _SELF_EVENTS and rel:
                self._dirty.add(rel.rpartition("/")[0])
