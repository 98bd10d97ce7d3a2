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
- `BlobStore.reading(desc, open_chunks)`: a context manager giving the blob to read once —
  from the store, or, when the store lacks it, from `open_chunks()` while it is stored (a
  layer unpacks as it downloads); committed, verified, when the block ends without error.

Two lock files per blob: `blob-HEX.lock` carries leases (shared) and is taken exclusively only
by the pruner; `blob-HEX.write` serialises writers. Keeping them apart means a build that holds
a lease on a blob can ingest it again without waiting on itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from builder.errors import DigestMismatchError, StoreError
from builder.oci.digest import hex_of
from builder.store.locks import FileLock

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

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


_PIECE = 1 << 20


class _StoringReader(io.RawIOBase):
    """A blob read from its chunks, each written to the store's temp file as it arrives. A
    read returns at most 1 MiB, so a decompressor works on the head of a blob while the rest
    arrives, in pieces big enough to keep its per-call costs low; `peek` looks ahead without
    consuming (what sniffing the compression needs)."""

    def __init__(self, chunks: Iterable[bytes], writer: BlobWriter, desc: "Descriptor") -> None:
        self._chunks = iter(chunks)
        self._writer = writer
        self._desc = desc
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _arrived(self) -> bytes | None:
        for chunk in self._chunks:
            if chunk:
                self._writer.write(chunk)
                if self._writer.size > self._desc.size:
                    raise DigestMismatchError(
                        f"blob {self._desc.digest}: more than the declared {self._desc.size} bytes"
                    )
                return chunk
        return None

    def peek(self, n: int = 1) -> bytes:
        while len(self._left) < n and (chunk := self._arrived()) is not None:
            self._left = memoryview(bytes(self._left) + chunk)
        return bytes(self._left[:n])

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(_PIECE), b""))
        want = min(n, _PIECE)
        pieces = []
        while want:
            if not self._left:
                chunk = self._arrived()
                if chunk is None:
                    break
                self._left = memoryview(chunk)
            piece = self._left[:want]
            self._left = self._left[len(piece):]
            pieces.append(piece)
            want -= len(piece)
        return b"".join(pieces)

    def readinto(self, buffer: "WriteableBuffer") -> int:
        target = memoryview(buffer).cast("B")
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self._arrived() is not None:
            pass


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

    @contextmanager
    def reading(
        self, desc: "Descriptor", open_chunks: Callable[[], AbstractContextManager[Iterable[bytes]]],
    ) -> Iterator[BinaryIO]:
        if not self.has(desc.digest):
            with FileLock(self.write_lock_file(desc.digest)):
                if not self.has(desc.digest):  # else a concurrent writer stored it meanwhile
                    with open_chunks() as chunks, self.writer() as w:
                        source = _StoringReader(chunks, w, desc)
                        yield cast(BinaryIO, source)
                        source.drain()
                        w.commit(desc.digest, desc.size)
                    self.path(desc.digest)  # the lease: the build goes on using the blob
                    return
        # A stored blob is read without the write lock: readers of one blob never wait.
        with open(self.path(desc.digest), "rb") as stored:
            yield stored

    def ingest(self, chunks: Iterable[bytes], desc: "Descriptor") -> Path:
        with FileLock(self.write_lock_file(desc.digest)):
            if not self.has(desc.digest):
                with self.writer() as w:
                    _StoringReader(chunks, w, desc).drain()
                    w.commit(desc.digest, desc.size)
        return self.path(desc.digest)
