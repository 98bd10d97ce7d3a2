"""Advisory file locks (fcntl.flock) that coordinate builds sharing one store.

`FileLock(path)` is a context manager taking an exclusive lock; `shared=True` takes a shared
one; `try_exclusive(path)` returns a held lock or None without waiting. A lock lives as long
as its open file descriptor, so a crashed build never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FileLock:
    def __init__(self, path: Path, *, shared: bool = False) -> None:
        self.path = path
        self._shared = shared
        self._fd: int | None = None

    def acquire(self, *, blocking: bool = True) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        flags = fcntl.LOCK_SH if self._shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, flags if blocking else flags | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def downgrade(self) -> None:
        """Exclusive -> shared, keeping the lock held throughout."""
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        self._shared = True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_exclusive(path: Path) -> FileLock | None:
    lock = FileLock(path)
    return lock if lock.acquire(blocking=False) else None
