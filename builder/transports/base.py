"""The two interfaces every image location implements, and what they share.

A source yields manifests (bytes, verified) and blobs (verified chunk streams); a
destination stores blobs, manifests and names. `copy_image` moves an image between any two.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from builder.oci.digest import CHUNK, VerifyingReader
from builder.oci.models import Descriptor
from builder.oci.raw import RawManifest

if TYPE_CHECKING:
    from builder.registry.client import RegistryClient
    from builder.registry.options import RegistryOptions

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

    def put_blob(self, desc: Descriptor, open_content: BlobOpener) -> None: ...

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
            from builder.registry.client import RegistryClient
            from builder.registry.options import RegistryOptions

            self._client = RegistryClient(self.registry_options or RegistryOptions())
        return self._client

    def close(self) -> None:
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()
        self._client = None


class ChunkStream(io.RawIOBase):
    """A read-only binary file over a context manager of chunks; closing it exits the
    context (so an open blob stream is released however the reader stops)."""

    def __init__(self, chunks_cm: AbstractContextManager[Iterable[bytes]]) -> None:
        self._cm = chunks_cm
        self._chunks = iter(chunks_cm.__enter__())
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._cm.__exit__(None, None, None)
        super().close()


def blob_opener(source: ImageSource, desc: Descriptor) -> BlobOpener:
    return lambda: io.BufferedReader(ChunkStream(source.open_blob(desc)), CHUNK)  # type: ignore[return-value]


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
