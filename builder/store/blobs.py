"""Content-addressed blob store: `ROOT/blobs/sha256/HEX`, written atomically and verified.

API:
- `BlobStore.has(digest) -> bool`, `.path(digest) -> Path` (raises StoreError if absent),
  `.open(digest) -> BinaryIO`. `path`/`open` take a lease (shared lock held until the owning
  `Store` closes) and refresh the blob's last-use time, so `multiarch cache prune` skips it.
- `BlobStore.writer() -> BlobWriter`: a context manager; `write(data)` streams into a temp
  file while hashing; `commit(expected=None) -> str` verifies the digest (when given), renames
  the temp file into place and returns the digest. Leaving the block without commit discards it.
- `BlobStore.ingest(chunks, desc) -> Path`: store a stream of chunks under `desc.digest`,
  verifying digest and size; a concurrent ingest of the same blob waits and reuses the result.

Two lock files per blob: `blob-HEX.lock` carries leases (shared) and is taken exclusively only
by the pruner; `blob-HEX.write` serialises writers. Keeping them apart means a build that holds
a lease on a blob can ingest it again without waiting on itself.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterable

from builder.errors import DigestMismatchError, StoreError
from builder.oci.digest import hex_of
from builder.store.locks import FileLock

if TYPE_CHECKING:
    from builder.oci.models import Descriptor
    from builder.store.leases import Leases


class BlobWriter:
    def __init__(self, blobs: "BlobStore") -> None:
        self._blobs = blobs
        fd, name = tempfile.mkstemp(prefix="blob-", dir=blobs.tmp_dir)
        self.temp_path = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False

    def write(self, data: bytes | memoryview) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected: str | None = None, expected_size: int | None = None) -> str:
        self._file.close()
        digest = self.digest
        if expected is not None and digest != expected:
            self.discard()
            raise DigestMismatchError(f"blob has digest {digest}, expected {expected}")
        if expected_size is not None and self.size != expected_size:
            self.discard()
            raise DigestMismatchError(
                f"blob {digest} has {self.size} bytes, expected {expected_size}"
            )
        os.chmod(self.temp_path, 0o644)
        os.replace(self.temp_path, self._blobs.blob_file(digest))
        self._done = True
        return digest

    def discard(self) -> None:
        self._file.close()
        self.temp_path.unlink(missing_ok=True)
        self._done = True

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.discard()


class BlobStore:
    def __init__(self, root: Path, tmp_dir: Path, lock_dir: Path, leases: "Leases") -> None:
        self.dir = root / "sha256"
        self.tmp_dir = tmp_dir
        self.lock_dir = lock_dir
        self._leases = leases
        self.dir.mkdir(parents=True, exist_ok=True)

    def blob_file(self, digest: str) -> Path:
        return self.dir / hex_of(digest)

    def lock_file(self, digest: str) -> Path:
        return self.lock_dir / f"blob-{hex_of(digest)}.lock"

    def write_lock_file(self, digest: str) -> Path:
        return self.lock_dir / f"blob-{hex_of(digest)}.write"

    def has(self, digest: str) -> bool:
        return self.blob_file(digest).is_file()

    def path(self, digest: str) -> Path:
        path = self.blob_file(digest)
        if not path.is_file():
            raise StoreError(f"blob {digest} is not in the store at {self.dir}")
        self._leases.take(self.lock_file(digest))
        if not path.is_file():  # pruned between the check and the lease
            raise StoreError(f"blob {digest} is not in the store at {self.dir}")
        os.utime(path)
        return path

    def open(self, digest: str) -> BinaryIO:
        return self.path(digest).open("rb")

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def ingest(self, chunks: Iterable[bytes], desc: "Descriptor") -> Path:
        with FileLock(self.write_lock_file(desc.digest)):
            if not self.has(desc.digest):
                with self.writer() as w:
                    for chunk in chunks:
                        w.write(chunk)
                        if w.size > desc.size:
                            raise DigestMismatchError(
                                f"blob {desc.digest}: more than the declared {desc.size} bytes"
                            )
                    w.commit(desc.digest, desc.size)
        return self.path(desc.digest)
