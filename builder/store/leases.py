"""Leases: shared locks a `Store` holds on every blob and layer it handed out.

`multiarch cache prune` removes an entry only after taking its lock exclusively, so anything a
running build uses survives until that build's `Store.close()` (or its process exit).
"""

from __future__ import annotations

import threading
from pathlib import Path

from builder.store.locks import FileLock


class Leases:
    def __init__(self) -> None:
        self._held: dict[Path, FileLock] = {}
        self._mutex = threading.Lock()

    def take(self, lock_file: Path) -> None:
        with self._mutex:
            if lock_file in self._held:
                return
            lock = FileLock(lock_file, shared=True)
            lock.acquire()
            self._held[lock_file] = lock

    def adopt(self, lock: FileLock) -> None:
        """Keep an already-held (shared) lock as a lease."""
        with self._mutex:
            old = self._held.pop(lock.path, None)
            self._held[lock.path] = lock
        if old is not None:
            old.release()

    def release_all(self) -> None:
        with self._mutex:
            for lock in self._held.values():
                lock.release()
            self._held.clear()
