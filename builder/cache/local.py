"""Cache entries in the local store: `STORE/buildcache/HEX.json` beside the blobs they name.

An entry is only as good as its blob: one whose layer blob `multiarch cache prune` removed
is a miss (and is dropped)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from builder.cache.entry import CacheEntry
from builder.oci.digest import hex_of
from builder.store import Store

log = logging.getLogger(__name__)


class LocalCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = store.root / "buildcache"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path:
        return self.dir / f"{hex_of(key)}.json"

    def get(self, key: str, ttl_s: float) -> CacheEntry | None:
        path = self._file(key)
        try:
            entry = CacheEntry.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("warning: local cache entry %s is unreadable (%s); building the step", path.name, err)
            path.unlink(missing_ok=True)
            return None
        if entry.key != key or entry.expired(ttl_s):
            path.unlink(missing_ok=True)
            return None
        if entry.layer is not None and not self.store.blobs.has(entry.layer.digest):
            path.unlink(missing_ok=True)
            return None
        return entry

    def put(self, entry: CacheEntry) -> None:
        fd, temp = tempfile.mkstemp(prefix="entry-", dir=self.store.tmp_dir)
        with os.fdopen(fd, "w") as f:
            json.dump(entry.to_json(), f)
        os.replace(temp, self._file(entry.key))
