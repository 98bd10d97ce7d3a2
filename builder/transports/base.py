"""The two interfaces every image location implements, and what they share.

A source yields manifests (bytes, verified) and blobs (verified chunk streams); a
destination stores blobs, manifests and names. `copy_image` moves an image between any two.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from builder.oci.digest import CHUNK, VerifyingReader
from builder.oci.models import Descriptor
from builder.oci.raw import RawManifest
from builder.registry.client import RegistryClient
from builder.registry.options import RegistryOptions

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BlobOpener = Callable[[], BinaryIO]
"""Opens a blob's content from the start; called again when an upload is retried."""


@runtime_checkable
class ImageSource(Protocol):
    description: str

    def get_manifest(self, digest: str | None = None) -> RawManifest:
        """The top-level manifest or index (digest None), or the manifest with that digest."""
        ...

    def open_blob(self, desc: Descriptor) -> AbstractContextManager[Iterator[bytes]]:
        """Chunks of the blob; the iterator raises DigestMismatchError if they are wrong."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ImageDestination(Protocol):
    description: str
    tag: str | None
    """The name the top-level manifest gets (registry tag, layout ref.name, archive RepoTag)."""
    supports_index: bool
    parallel_blobs: int
    """How many blobs may be written at once."""

    def has_blob(self, desc: Descriptor) -> bool: ...

    def put_blob(self, desc: Descriptor, open_content: BlobOpener) -> None:
        """Write a blob that `has_blob` just reported missing (no second existence check)."""
        ...

    def try_mount(self, desc: Descriptor, source: ImageSource) -> bool:
        """Make the blob present without moving its bytes (registry cross-repo mount)."""
        ...

    def put_manifest(self, raw: RawManifest, tag: str | None, *, root: bool = True) -> None:
        """Store a manifest; `root` makes it a top-level entry (named `tag` if given).
        Children of an index are written with root=False, before the index."""
        ...

    def close(self) -> None: ...


@dataclass
class TransportContext:
    """What opening a location may need: registry options and one shared client."""

    registry_options: "RegistryOptions | None" = None
    _client: "RegistryClient | None" = field(default=None, repr=False)

    def registry_client(self) -> "RegistryClient":
        if self._client is None:
            self._client = RegistryClient(self.registry_options or RegistryOptions())
        return self._client

    def close(self) -> None:
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()
        self._client = None


class ChunkStream(io.RawIOBase):
    """A read-only binary file over a context manager of chunks; closing it exits the
    context (so an open blob stream is released however the reader stops). `read` hands
    whole chunks through without copying them when the caller asks for enough."""

    def __init__(self, chunks_cm: AbstractContextManager[Iterable[bytes]]) -> None:
        self._cm = chunks_cm
        self._chunks = iter(chunks_cm.__enter__())
        self._pending = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self.readall()
        while self._offset >= len(self._pending):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending, self._offset = chunk, 0
        if self._offset == 0 and size >= len(self._pending):
            data = self._pending
        else:
            data = self._pending[self._offset : self._offset + size]
        self._offset += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._cm.__exit__(None, None, None)
        super().close()


class SharedBlobReader:
    """Opens a source blob for a destination that may open it many times (a chunked upload
    opens it once per chunk and seeks to the chunk's offset). The opened files share one
    forward pass over the source, so each chunk continues where the last one stopped; only
    a seek backwards (a retried chunk) starts the source stream again."""

    def __init__(self, source: ImageSource, desc: Descriptor) -> None:
        self._source = source
        self._desc = desc
        self._stream: ChunkStream | None = None
        self._position = 0
        self._lock = threading.Lock()

    def __enter__(self) -> "SharedBlobReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> BinaryIO:
        return _BlobView(self)  # type: ignore[return-value]  # a RawIOBase; typeshed's BinaryIO is apart

    def read_at(self, position: int, size: int) -> bytes:
        with self._lock:
            if self._stream is None or position < self._position:
                self.close()
                self._stream = ChunkStream(self._source.open_blob(self._desc))
                self._position = 0
            while self._position < position:
                skipped = self._stream.read(min(CHUNK, position - self._position))
                if not skipped:
                    return b""
                self._position += len(skipped)
            data = self._stream.read(size) or b""
            self._position += len(data)
            return data

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


class _BlobView(io.RawIOBase):
    def __init__(self, shared: SharedBlobReader) -> None:
        self._shared = shared
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("only absolute and relative seeks")
        self._position = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self.readall()
        data = self._shared.read_at(self._position, size)
        self._position += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


@contextmanager
def verified_file_chunks(path: Path, desc: Descriptor, what: str) -> Iterator[Iterator[bytes]]:
    """Chunks of a local file, checked against the descriptor's digest and size."""
    with open(path, "rb") as f:
        yield iter(VerifyingReader(iter(lambda: f.read(CHUNK), b""), desc.digest, desc.size, what))


def write_atomically(target: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temp file next to `target`; rename it into place only when complete."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-" + target.name[:16])
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
