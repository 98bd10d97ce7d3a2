"""Layer (de)compression: readers chosen by media type and checked against magic bytes,
and streaming compressors for the layer writer.

API:
- `open_layer_tar(source, media_type, name) -> BinaryIO`: the uncompressed tar stream of a
  layer blob (a path, or a stream with `peek` read once: a blob still arriving); raises
  LayerError, naming the layer `name`, when the blob's magic bytes contradict its media type.
- `compressor(sink, compression, level) -> BinaryIO`: a writable stream compressing into
  `sink` ('gzip' with isal on several threads — one standard gzip member, pigz-style blocks
  sharing a 32 KiB dictionary — or zlib when isal is missing; 'zstd' multi-threaded; 'none').
  Closing it flushes the trailer but leaves `sink` open. Memory stays bounded: a few blocks
  of 1 MiB per thread.
- `Compression` names; gzip levels are 1-9 as for gzip(1) (mapped onto isal's 0-3).
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, cast

from builder.errors import LayerError
from builder.oci.mediatypes import layer_compression

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

Compression = Literal["gzip", "zstd", "none"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BLOCK = 1 << 20


def sniff_compression(head: bytes) -> Compression | None:
    """'gzip'/'zstd' from magic bytes, 'none' for a tar (or empty) stream, None if unknown."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "none"
    if not head.strip(b"\0"):
        return "none"
    return None


def open_layer_tar(source: Path | BinaryIO, media_type: str, name: str) -> BinaryIO:
    """`source`: a path, or a stream with `peek` (a blob arriving: builder.store.blobs)."""
    declared = layer_compression(media_type)
    raw: BinaryIO = open(source, "rb") if isinstance(source, Path) else source
    try:
        found = sniff_compression(cast(io.BufferedReader, raw).peek(512)[:512])
        if found != declared:
            raise LayerError(
                f"layer {name}: media type {media_type} says {declared} but the content "
                f"is {found or 'neither tar, gzip nor zstd'}"
            )
        if declared == "gzip":
            # Lazy: a codec library is loaded by the layers that use it (isal ~17 ms, zstd ~6 ms).
            from isal import igzip_threaded

            return cast(BinaryIO, igzip_threaded.open(raw, "rb", threads=1, block_size=BLOCK))
        if declared == "zstd":
            # Lazy: a codec library is loaded by the layers that use it (isal ~17 ms, zstd ~6 ms).
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(
                raw, read_size=BLOCK, read_across_frames=True, closefd=True
            )
            return cast(BinaryIO, reader)
        return raw
    except BaseException:
        raw.close()
        raise


def _isal_level(level: int | None) -> int:
    if level is None:
        return 1
    return 0 if level <= 1 else 1 if level <= 4 else 2 if level <= 7 else 3


class _ZlibGzipWriter(io.RawIOBase):
    def __init__(self, sink: BinaryIO, level: int) -> None:
        self._sink = sink
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        self._sink.write(self._z.compress(data))
        return memoryview(data).nbytes

    def close(self) -> None:
        if not self.closed:
            self._sink.write(self._z.flush())
        super().close()


class _Passthrough(io.RawIOBase):
    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        self._sink.write(data)
        return memoryview(data).nbytes


def compressor(
    sink: BinaryIO, compression: Compression, level: int | None = None, threads: int | None = None
) -> BinaryIO:
    threads = threads or len(os.sched_getaffinity(0))
    if compression == "gzip":
        try:
            # Lazy: a codec library is loaded by the layers that use it (isal ~17 ms, zstd ~6 ms).
            from isal import igzip_threaded
        except ImportError:
            return cast(BinaryIO, _ZlibGzipWriter(sink, level or 6))
        return cast(BinaryIO, igzip_threaded.open(
            sink, "wb", compresslevel=_isal_level(level), threads=threads, block_size=BLOCK
        ))
    if compression == "zstd":
        # Lazy: a codec library is loaded by the layers that use it (isal ~17 ms, zstd ~6 ms).
        import zstandard

        cctx = zstandard.ZstdCompressor(level=level or 3, threads=threads if threads > 1 else 0)
        return cast(BinaryIO, cctx.stream_writer(sink, closefd=False, write_size=BLOCK))
    if compression == "none":
        return cast(BinaryIO, _Passthrough(sink))
    raise LayerError(f"unknown layer compression {compression!r}")
