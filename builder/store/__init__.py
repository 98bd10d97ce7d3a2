"""Local content store: blobs by digest and extracted layers by diffID.

Public API:
- `Store(root)`: opens (creating) a store directory. Attributes:
  `.blobs` (`BlobStore`: has, path, open, writer, ingest — see `builder.store.blobs`) and
  `.layers` (`LayerCache`: get_or_extract(diff_id, blob_path, media_type) -> Path usable as a
  read-only overlay lower dir — see `builder.store.layers`), `.tmp_dir` (scratch space on the
  same filesystem, for atomic renames). `close()` drops the leases that protect what this
  store handed out from `multiarch cache prune`; a `Store` is also a context manager.
- `default_store_root(cache_dir=None) -> Path`: `cache_dir`, else `$MULTIARCH_CACHE_DIR`, else
  `~/.cache/multiarch`. `default_store(cache_dir=None) -> Store`.
- `prune(store, older_than=None, max_size=None) -> PruneReport` (in `builder.store.gc`).

Layout of ROOT: `blobs/sha256/HEX`, `layers/HEX/` + `layers/HEX.size`, `locks/`, `tmp/`.
Opening a Store clears tmp/ of what dead builds left there when no other process has the
store open (see `builder.store.sweep`).
"""

from __future__ import annotations

import os
from pathlib import Path

from builder.store.blobs import BlobStore, BlobWriter
from builder.store.layers import LayerCache
from builder.store.leases import Leases
from builder.store.sweep import hold_tmp

__all__ = ["Store", "BlobStore", "BlobWriter", "LayerCache", "default_store", "default_store_root"]


class Store:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()
        self.tmp_dir = self.root / "tmp"
        self.lock_dir = self.root / "locks"
        for d in (self.tmp_dir, self.lock_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._tmp_hold = hold_tmp(self.tmp_dir, self.lock_dir / "tmp.lock")
        self._leases = Leases()
        self.blobs = BlobStore(self.root / "blobs", self.tmp_dir, self.lock_dir, self._leases)
        self.layers = LayerCache(self.root / "layers", self.tmp_dir, self.lock_dir, self._leases)

    def close(self) -> None:
        self._leases.release_all()
        self._tmp_hold.release()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_store_root(cache_dir: Path | str | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir)
    if env := os.environ.get("MULTIARCH_CACHE_DIR"):
        return Path(env)
    return Path.home() / ".cache" / "multiarch"


def default_store(cache_dir: Path | str | None = None) -> Store:
    return Store(default_store_root(cache_dir))
