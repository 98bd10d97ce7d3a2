"""`docker-archive:FILE[:REF]`: the tar that `docker save` writes and `docker load` /
`podman load` / `skopeo` read: manifest.json, one config json, one uncompressed tar per
layer, and `repositories`.

Reading presents the archive's image as an OCI manifest whose layers are the archive's
layer files as they are (digest = sha256 of the file). Writing decompresses each layer
into the archive (as `docker save` does, so the file's digest is its diff_id) and writes
manifest.json last; the archive appears at FILE only once it is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

from builder.errors import InvalidReferenceError, LayerError, NotFoundError, TransportError
from builder.oci import mediatypes as mt
from builder.oci.digest import CHUNK, VerifyingReader, hex_of
from builder.oci.models import Descriptor, ImageManifest
from builder.oci.raw import RawManifest
from builder.reference import Reference, parse_reference
from builder.transports.base import BlobOpener, ImageSource

_MAGIC_TYPES = ((b"\x1f\x8b", mt.OCI_LAYER_GZIP), (b"\x28\xb5\x2f\xfd", mt.OCI_LAYER_ZSTD))
CONFIG_TYPES = frozenset({mt.OCI_CONFIG, mt.DOCKER_CONFIG})


@dataclass(frozen=True)
class _Member:
    name: str
    offset: int
    size: int


class ArchiveSource:
    def __init__(self, path: Path, reference: Reference | None, index: int | None) -> None:
        self.path = path
        self.description = f"docker-archive:{path}"
        try:
            with tarfile.open(path, "r:*") as tar:
                self._members = {
                    m.name.removeprefix("./"): _Member(m.name, m.offset_data, m.size)
                    for m in tar.getmembers()
                    if m.isfile()
                }
                self._compressed = _is_compressed(path)
                entry = self._select(self._read_json(tar, "manifest.json"), reference, index)
                config = self._read_bytes(tar, entry["Config"])
        except FileNotFoundError:
            raise NotFoundError(f"{path} does not exist") from None
        except tarfile.TarError:
            raise TransportError(f"{path} is not a readable docker archive (not a tar file)") from None
        except OSError as err:
            raise TransportError(f"{path} is not a readable docker archive: {err.strerror or err}") from None
        self._blobs: dict[str, _Member] = {}
        config_desc = Descriptor.of_bytes(config, mt.OCI_CONFIG)
        self._config = config
        layers = [self._describe_layer(name) for name in entry.get("Layers") or []]
        self._raw = RawManifest.of(
            ImageManifest(mediaType=mt.OCI_MANIFEST, config=config_desc, layers=layers)
        )

    def _read_bytes(self, tar: tarfile.TarFile, name: str) -> bytes:
        member = self._members.get(name.removeprefix("./"))
        f = tar.extractfile(member.name) if member else None
        if f is None:
            raise TransportError(f"{self.path}: {name} is missing from the archive")
        return f.read()

    def _read_json(self, tar: tarfile.TarFile, name: str) -> list[dict[str, Any]]:
        try:
            value = json.loads(self._read_bytes(tar, name))
        except ValueError as err:
            raise TransportError(f"{self.path}: {name} is not valid JSON: {err}") from None
        if not isinstance(value, list) or not all(
            isinstance(e, dict) and isinstance(e.get("Config"), str) for e in value
        ):
            raise TransportError(f"{self.path}: {name} is not a docker-save manifest list")
        return value

    def _select(
        self, entries: list[dict[str, Any]], reference: Reference | None, index: int | None
    ) -> dict[str, Any]:
        if index is not None:
            if index >= len(entries):
                raise NotFoundError(f"{self.path} holds {len(entries)} images; there is no @{index}")
            return entries[index]
        if reference is None:
            if len(entries) != 1:
                raise TransportError(
                    f"{self.path} holds {len(entries)} images; pick one with "
                    f"docker-archive:{self.path}:NAME:TAG or :@N"
                )
            return entries[0]
        for entry in entries:
            for repo_tag in entry.get("RepoTags") or []:
                try:
                    if parse_reference(repo_tag) == reference:
                        return entry
                except InvalidReferenceError:
                    continue
        raise NotFoundError(f"no image {reference.familiar} in {self.path}")

    def _describe_layer(self, name: str) -> Descriptor:
        member = self._members.get(name.removeprefix("./"))
        if member is None:
            raise TransportError(f"{self.path}: layer {name} is missing from the archive")
        h = hashlib.sha256()
        with self._open_member(member) as f:
            head = f.read(4)
            h.update(head)
            while chunk := f.read(CHUNK):
                h.update(chunk)
        media_type = next((t for magic, t in _MAGIC_TYPES if head.startswith(magic)), mt.OCI_LAYER)
        desc = Descriptor(mediaType=media_type, digest="sha256:" + h.hexdigest(), size=member.size)
        self._blobs[desc.digest] = member
        return desc

    @contextmanager
    def _open_member(self, member: _Member) -> Iterator[_Reader]:
        if self._compressed:
            with tarfile.open(self.path, "r:*") as tar:
                f = tar.extractfile(member.name)
                assert f is not None
                yield f
            return
        with open(self.path, "rb") as raw:
            raw.seek(member.offset)
            yield _Limited(raw, member.size)

    def get_manifest(self, digest: str | None = None) -> RawManifest:
        if digest is not None and digest != self._raw.digest:
            raise NotFoundError(f"{self.description} has no manifest {digest}")
        return self._raw

    def open_blob(self, desc: Descriptor) -> AbstractContextManager[Iterator[bytes]]:
        return self._blob_chunks(desc)

    @contextmanager
    def _blob_chunks(self, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        what = f"blob {desc.digest[:19]} in {self.path}"
        if desc.digest == self._raw.manifest().config.digest:
            yield iter(VerifyingReader([self._config], desc.digest, desc.size, what))
            return
        member = self._blobs.get(desc.digest)
        if member is None:
            raise NotFoundError(f"{self.description} has no blob {desc.digest}")
        with self._open_member(member) as f:
            yield iter(VerifyingReader(iter(lambda: f.read(CHUNK), b""), desc.digest, desc.size, what))

    def close(self) -> None:
        pass


class _Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Limited:
    """Reads at most `size` bytes from a file positioned at a member's data."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self._f, self._left = f, size

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data


def _is_compressed(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(6)
    return head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ"))


class ArchiveDestination:
    supports_index = False
    parallel_blobs = 1

    def __init__(self, path: Path, reference: Reference | None) -> None:
        self.path = path
        self.reference = reference
        self.tag = _repo_tag(reference) if reference else None
        self.description = f"docker-archive:{path}" + (f":{self.tag}" if self.tag else "")
        if not path.parent.is_dir():
            raise TransportError(f"cannot write {path}: {path.parent} is not a directory")
        if path.is_dir():
            raise TransportError(f"cannot write {path}: it is a directory")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name[:16]}")
        os.close(fd)
        self._tmp = Path(tmp)
        self._tar = tarfile.open(self._tmp, "w", format=tarfile.PAX_FORMAT)
        self._files: dict[str, str] = {}  # blob digest -> file name in the archive
        self._done = False

    def has_blob(self, desc: Descriptor) -> bool:
        return desc.digest in self._files

    def put_blob(self, desc: Descriptor, open_content: BlobOpener) -> None:
        if desc.digest in self._files:
            return
        what = f"blob {desc.digest[:19]}"
        with open_content() as f, tempfile.TemporaryFile(dir=self.path.parent) as spool:
            chunks = VerifyingReader(iter(lambda: f.read(CHUNK), b""), desc.digest, desc.size, what)
            if desc.media_type in CONFIG_TYPES:
                for chunk in chunks:
                    spool.write(chunk)
                name = hex_of(desc.digest) + ".json"
            else:
                name = _decompress_into(spool, chunks, desc) + ".tar"
            self._add(name, spool)
        self._files[desc.digest] = name

    def _add(self, name: str, f: IO[bytes]) -> None:
        info = tarfile.TarInfo(name)
        info.size = f.tell()
        info.mode = 0o644
        f.seek(0)
        self._tar.addfile(info, f)

    def try_mount(self, desc: Descriptor, source: ImageSource) -> bool:
        return False

    def put_manifest(self, raw: RawManifest, tag: str | None, *, root: bool = True) -> None:
        if raw.is_index:
            raise TransportError(
                f"{self.description} can hold one image, not an index",
                hint="choose one platform with --platform",
            )
        if not root:
            return
        manifest = raw.manifest()
        missing = [d.digest for d in [manifest.config, *manifest.layers] if d.digest not in self._files]
        if missing:
            raise TransportError(f"{self.description}: blobs {', '.join(missing)} were not written")
        layers = [self._files[d.digest] for d in manifest.layers]
        entry = {"Config": self._files[manifest.config.digest], "RepoTags": [tag] if tag else [], "Layers": layers}
        self._add_bytes("manifest.json", json.dumps([entry]).encode())
        if tag and layers:
            name, _, repo_tag = tag.rpartition(":")
            self._add_bytes("repositories", json.dumps({name: {repo_tag: layers[-1][:-4]}}).encode())
        self._tar.close()
        os.replace(self._tmp, self.path)
        self._done = True

    def _add_bytes(self, name: str, data: bytes) -> None:
        with tempfile.SpooledTemporaryFile() as f:
            f.write(data)
            self._add(name, cast(IO[bytes], f))  # a SpooledTemporaryFile is a binary file

    def close(self) -> None:
        if not self._done:
            self._tar.close()
            self._tmp.unlink(missing_ok=True)


def _repo_tag(reference: Reference) -> str:
    return reference.familiar if reference.tag else reference.with_tag("latest").familiar


def _decompress_into(out: IO[bytes], chunks: VerifyingReader, desc: Descriptor) -> str:
    """Write the layer uncompressed to `out`; return the hex sha256 of what was written."""
    diff = hashlib.sha256()
    try:
        for data in _decompress(chunks, mt.layer_compression(desc.media_type)):
            diff.update(data)
            out.write(data)
    except (zlib.error, ValueError) as err:
        for _ in chunks:  # a corrupt download shows as a digest mismatch, which wins
            pass
        raise LayerError(f"layer {desc.digest[:19]} is not valid {desc.media_type} data: {err}") from None
    return diff.hexdigest()


def _decompress(chunks: VerifyingReader, compression: str) -> Iterator[bytes]:
    if compression == "none":
        yield from chunks
        return
    if compression == "zstd":
        # Lazy: a codec library is loaded by the layers that use it (isal ~17 ms, zstd ~6 ms).
        import zstandard

        zstd_stream = zstandard.ZstdDecompressor().decompressobj()
        for chunk in chunks:
            try:
                data = zstd_stream.decompress(chunk)
            except zstandard.ZstdError as err:
                raise ValueError(str(err)) from None
            yield data
        return
    stream = zlib.decompressobj(wbits=47)
    for chunk in chunks:
        while chunk:
            yield stream.decompress(chunk)
            chunk = b""
            if stream.eof and stream.unused_data:  # concatenated gzip members (pigz, appends)
                chunk, stream = stream.unused_data, zlib.decompressobj(wbits=47)
    yield stream.flush()

