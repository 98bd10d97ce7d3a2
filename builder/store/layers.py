"""Extracted-layer cache: each layer unpacked once, keyed by diffID, used as an overlay lower dir.

Layout: `ROOT/layers/HEX/` (the layer's own files, OCI whiteouts already converted to overlay
whiteouts, so the directory can be stacked as a read-only overlay lower dir) and
`ROOT/layers/HEX.size` (bytes on disk, for garbage collection; its mtime is the last use).

API: `LayerCache.get_or_extract(diff_id, blob, media_type) -> Path` (`blob`: a path, or a
blob arriving: `BlobStore.reading`, so a layer extracts while it downloads). Extraction goes into a
temp dir that is renamed into place, under an exclusive lock, so two builds never extract the
same layer twice and nobody sees a half-extracted layer. The uncompressed stream is checked
against `diff_id`. The returned directory is leased (shared lock) until the `Store` closes.
`LayerCache.has(diff_id)` and `.path(diff_id)` look up without extracting.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from builder.errors import StoreError
from builder.fs.unpack import UnpackMode, unpack_layer
from builder.oci.digest import hex_of
from builder.store.locks import FileLock

if TYPE_CHECKING:
    from builder.store.leases import Leases


# flock conflicts between two lock fds of one process: a thread holding a layer's lease
# (shared) blocks another thread's exclusive lock on it for good. So threads take turns
# before the file lock, and the later one finds the layer extracted.
_extracting: dict[Path, threading.Lock] = {}
_extracting_mutex = threading.Lock()


def _in_process_lock(lock_file: Path) -> threading.Lock:
    with _extracting_mutex:
        return _extracting.setdefault(lock_file, threading.Lock())


class LayerCache:
    def __init__(self, root: Path, tmp_dir: Path, lock_dir: Path, leases: "Leases") -> None:
        self.dir = root
        self.tmp_dir = tmp_dir
        self.lock_dir = lock_dir
        self._leases = leases
        self.dir.mkdir(parents=True, exist_ok=True)

    def layer_dir(self, diff_id: str) -> Path:
        return self.dir / hex_of(diff_id)

    def size_file(self, diff_id: str) -> Path:
        return self.dir / (hex_of(diff_id) + ".size")

    def lock_file(self, diff_id: str) -> Path:
        return self.lock_dir / f"layer-{hex_of(diff_id)}.lock"

    def has(self, diff_id: str) -> bool:
        return self.size_file(diff_id).is_file() and self.layer_dir(diff_id).is_dir()

    def path(self, diff_id: str) -> Path:
        lock = FileLock(self.lock_file(diff_id), shared=True)
        lock.acquire()
        if not self.has(diff_id):
            lock.release()
            raise StoreError(f"layer {diff_id} is not extracted in {self.dir}")
        self._leases.adopt(lock)
        os.utime(self.size_file(diff_id))
        return self.layer_dir(diff_id)

    def get_or_extract(self, diff_id: str, blob: Path | BinaryIO, media_type: str) -> Path:
        if self.has(diff_id):
            return self.path(diff_id)
        with _in_process_lock(self.lock_file(diff_id)):
            if self.has(diff_id):
                return self.path(diff_id)
            lock = FileLock(self.lock_file(diff_id))
            lock.acquire()
            try:
                if not self.has(diff_id):
                    self._extract(diff_id, blob, media_type)
                lock.downgrade()
            except BaseException:
                lock.release()
                raise
            self._leases.adopt(lock)
        return self.layer_dir(diff_id)

    def _extract(self, diff_id: str, blob: Path | BinaryIO, media_type: str) -> None:
        temp = Path(tempfile.mkdtemp(prefix="layer-", dir=self.tmp_dir))
        try:
            result = unpack_layer(
                blob, media_type, temp, mode=UnpackMode.OVERLAY_LOWER, expect_diff_id=diff_id
            )
            target = self.layer_dir(diff_id)
            if target.exists():  # left over by a crash before the size file was written
                shutil.rmtree(target)
            os.rename(temp, target)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        self.size_file(diff_id).write_text(f"{result.bytes_on_disk}\n")
