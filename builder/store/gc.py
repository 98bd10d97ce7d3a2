"""Garbage collection of the store by age and total size (`multiarch cache prune`).

API: `prune(store, *, older_than=None, max_size=None) -> PruneReport(removed_blobs,
removed_layers, freed_bytes, kept_in_use)`. Entries unused (by last-use time) for longer than
`older_than` seconds go first; then the least recently used go until the store is at most
`max_size` bytes. An entry is removed only while holding its lock exclusively, so anything
leased by a running build (see `builder.store.leases`) or being written is skipped.
An extracted layer is first renamed into tmp/ (vanishing atomically), then deleted.
Leftovers of crashed builds in tmp/ (untouched for a day) are deleted too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.store.locks import try_exclusive

if TYPE_CHECKING:
    from builder.store import Store


@dataclass(frozen=True)
class PruneReport:
    removed_blobs: int
    removed_layers: int
    freed_bytes: int
    kept_in_use: int


@dataclass(frozen=True)
class _Entry:
    kind: str  # "blob" | "layer"
    key: str  # hex digest
    size: int
    last_used: float


def _entries(store: "Store") -> list[_Entry]:
    entries = []
    for blob in store.blobs.dir.iterdir():
        st = blob.stat()
        entries.append(_Entry("blob", blob.name, st.st_size, st.st_mtime))
    for size_file in store.layers.dir.glob("*.size"):
        try:
            size = int(size_file.read_text().strip() or 0)
        except ValueError:
            size = 0
        entries.append(_Entry("layer", size_file.stem, size, size_file.stat().st_mtime))
    return sorted(entries, key=lambda e: e.last_used)


def _remove(store: "Store", entry: _Entry) -> bool:
    digest = "sha256:" + entry.key
    lock_file = store.blobs.lock_file(digest) if entry.kind == "blob" else store.layers.lock_file(digest)
    lock = try_exclusive(lock_file)
    if lock is None:
        return False
    try:
        if entry.kind == "blob":
            store.blobs.blob_file(digest).unlink(missing_ok=True)
        else:
            store.layers.size_file(digest).unlink(missing_ok=True)
            trash = Path(tempfile.mkdtemp(prefix="trash-", dir=store.tmp_dir))
            layer_dir = store.layers.layer_dir(digest)
            if layer_dir.exists():
                os.rename(layer_dir, trash / "layer")
            shutil.rmtree(trash, ignore_errors=True)
    finally:
        lock.release()
    return True


STALE_TMP_SECONDS = 86400


def _remove_stale_tmp(store: "Store", now: float) -> None:
    for entry in store.tmp_dir.iterdir():
        if now - entry.lstat().st_mtime > STALE_TMP_SECONDS:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def prune(store: "Store", *, older_than: float | None = None, max_size: int | None = None) -> PruneReport:
    _remove_stale_tmp(store, time.time())
    entries = _entries(store)
    total = sum(e.size for e in entries)
    now = time.time()
    removed = {"blob": 0, "layer": 0}
    freed = 0
    in_use = 0
    for entry in entries:
        too_old = older_than is not None and now - entry.last_used > older_than
        too_big = max_size is not None and total > max_size
        if not (too_old or too_big):
            continue
        if _remove(store, entry):
            removed[entry.kind] += 1
            freed += entry.size
            total -= entry.size
        else:
            in_use += 1
    return PruneReport(removed["blob"], removed["layer"], freed, in_use)
