"""Layer writer: a change list -> a deterministic tar, hashed and compressed in one pass.

API:
- `write_layer(changes, store, *, compression="gzip", level=None, source_date_epoch=None,
  docker_media_type=False) -> LayerResult(diff_id, descriptor, path)`: streams
  tar -> sha256 (diffID) -> compressor -> sha256 (digest) -> temp file -> renamed into the
  blob store. Memory stays bounded (1 MiB chunks, a few compression blocks per thread).
- `copy_changes(items, *, parents=True, base_root=None) -> list[Change]`: the changes for a
  COPY-style layer from `CopyItem(source, dest, uid, gid, mode)` values; a directory source is
  copied recursively (its contents land in `dest`). With `base_root` (the image's current
  root, e.g. the overlay merged dir), `dest` is first resolved through symlinks in its parents
  inside that root (COPY x /bin/y lands in usr/bin/y when /bin -> usr/bin), and parents that
  exist there keep their metadata; other parents become 0755 directories owned by the
  item's uid/gid (root by default) with mtime 0/epoch.

Determinism: entries sorted by tar name (parents before children), PAX format with
empty uname/gname, integer mtimes, xattrs in sorted order as `SCHILY.xattr.*` records
(`trusted.overlay.*` never written), hardlinks among written files as link entries (the first
name in sort order carries the data). With `source_date_epoch` every mtime is clamped to at
most that value (SOURCE_DATE_EPOCH / --reproducible), so the same tree gives the same digest
on any machine. Whiteout and opaque markers are empty root-owned files with mtime 0 (or the
epoch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Protocol

from builder.errors import LayerError
from builder.fs.changes import Change, ChangeKind, image_xattrs
from builder.fs.compression import Compression, compressor
from builder.fs.paths import real_path
from builder.fs.tarformat import BLK, CHR, DIR, FIFO, LNK, REG, SYM, TarEntry, encode_header
from builder.oci.mediatypes import layer_media_type
from builder.oci.models import Descriptor


class BlobWriter(Protocol):
    """A blob being written: hashed as it goes, committed under its digest."""

    size: int

    def write(self, data: bytes | memoryview, /) -> int: ...
    def commit(self) -> str: ...
    def __enter__(self) -> BlobWriter: ...
    def __exit__(self, *exc: object) -> None: ...


class BlobSink(Protocol):
    def writer(self) -> BlobWriter: ...
    def path(self, digest: str) -> Path: ...


class LayerStore(Protocol):
    """Where layers are written: `builder.store.Store` (the store sits above fs, it unpacks
    layers with it)."""

    @property
    def blobs(self) -> BlobSink: ...

CHUNK = 1 << 20
OPAQUE_MARKER = ".wh..wh..opq"
WHITEOUT_PREFIX = ".wh."


@dataclass(frozen=True)
class LayerResult:
    diff_id: str
    descriptor: Descriptor
    path: Path
    tar_size: int


@dataclass(frozen=True)
class CopyItem:
    source: Path
    dest: str
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None


@dataclass(frozen=True)
class _Entry:
    name: str
    change: Change
    marker: bool = False  # a whiteout / opaque marker rather than the change's own path


def _entries(changes: Iterable[Change]) -> list[_Entry]:
    by_name: dict[str, _Entry] = {}
    for change in changes:
        path = change.path.strip("/")
        if not path:
            continue
        if change.kind is ChangeKind.DELETE:
            parent, _, base = path.rpartition("/")
            name = f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base
            by_name[name] = _Entry(name, change, marker=True)
            continue
        by_name[path] = _Entry(path, change)
        if change.kind is ChangeKind.OPAQUE:
            by_name[f"{path}/{OPAQUE_MARKER}"] = _Entry(f"{path}/{OPAQUE_MARKER}", change, marker=True)
    return [by_name[n] for n in sorted(by_name, key=lambda n: n.encode("utf-8", "surrogateescape"))]


class _TarStream:
    """Writes tar records into `out` while hashing the uncompressed bytes (the diffID)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self.size += len(data)
        self._out.write(data)

    def add(self, info: TarEntry, source: Path | None = None) -> None:
        self.write(encode_header(info))
        if info.size == 0 or source is None:
            return
        remaining = info.size
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while remaining > 0:
                chunk = os.read(fd, min(CHUNK, remaining))
                if not chunk:
                    raise LayerError(f"{source} shrank while it was being written into a layer")
                self.write(chunk)
                remaining -= len(chunk)
        finally:
            os.close(fd)
        if info.size % 512:
            self.write(b"\0" * (512 - info.size % 512))

    def finish(self) -> None:
        self.write(b"\0" * 1024)


def _entry(name: str, kind: bytes, mode: int, mtime: int) -> TarEntry:
    return TarEntry(name=name, type=kind, size=0, mode=mode, uid=0, gid=0, mtime=mtime,
                    linkname="", devmajor=0, devminor=0)


class _InfoMaker:
    def __init__(self, source_date_epoch: int | None) -> None:
        self.epoch = source_date_epoch
        self.links: dict[tuple[int, int], str] = {}

    def mtime(self, value: float) -> int:
        t = int(value)
        return min(t, self.epoch) if self.epoch is not None else t

    def marker(self, name: str) -> TarEntry:
        return _entry(name, REG, 0, self.epoch if self.epoch is not None else 0)

    def of(self, entry: _Entry) -> tuple[TarEntry, Path | None]:
        change = entry.change
        data: Path | None = None
        if change.header is not None:
            info = dataclasses.replace(change.header, name=entry.name,
                                       mtime=self.mtime(change.header.mtime))
        elif change.source is None:
            info = _entry(entry.name, DIR, 0o755, self.epoch if self.epoch is not None else 0)
        else:
            st = os.lstat(change.source)
            mode = st.st_mode
            info = _entry(entry.name, REG, stat.S_IMODE(mode), self.mtime(st.st_mtime))
            info.uid, info.gid = st.st_uid, st.st_gid
            if stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in self.links:
                    info.type = LNK
                    info.linkname = self.links[key]
                else:
                    if st.st_nlink > 1:
                        self.links[key] = entry.name
                    info.size = st.st_size
                    data = change.source
            elif stat.S_ISDIR(mode):
                info.type = DIR
            elif stat.S_ISLNK(mode):
                info.type = SYM
                info.linkname = os.readlink(change.source)
            elif stat.S_ISFIFO(mode):
                info.type = FIFO
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info.type = CHR if stat.S_ISCHR(mode) else BLK
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            else:
                raise LayerError(f"{change.source}: sockets cannot be stored in a layer")
            info.xattrs = image_xattrs(change.source)
        if change.uid is not None:
            info.uid = change.uid
        if change.gid is not None:
            info.gid = change.gid
        if change.mode is not None:
            info.mode = change.mode & 0o7777
        return info, data


def write_tar(changes: Iterable[Change], out: BinaryIO, *, source_date_epoch: int | None = None) -> tuple[str, int]:
    """Write the deterministic tar of `changes` into `out`; returns (diff_id, tar size)."""
    tar = _TarStream(out)
    maker = _InfoMaker(source_date_epoch)
    for entry in _entries(changes):
        if entry.marker:
            tar.add(maker.marker(entry.name))
        else:
            tar.add(*maker.of(entry))
    tar.finish()
    return "sha256:" + tar.hash.hexdigest(), tar.size


def write_layer(
    changes: Iterable[Change],
    store: LayerStore,
    *,
    compression: Compression = "gzip",
    level: int | None = None,
    source_date_epoch: int | None = None,
    docker_media_type: bool = False,
) -> LayerResult:
    media_type = layer_media_type(compression, docker=docker_media_type)
    with store.blobs.writer() as blob:
        stream = compressor(blob, compression, level)  # type: ignore[arg-type]  # BlobWriter: write-only file
        try:
            diff_id, tar_size = write_tar(changes, stream, source_date_epoch=source_date_epoch)
        finally:
            stream.close()
        digest = blob.commit()
        size = blob.size
    descriptor = Descriptor(mediaType=media_type, digest=digest, size=size)
    return LayerResult(diff_id, descriptor, store.blobs.path(digest), tar_size)


def _parent_changes(dest: str, item: CopyItem, base_root: Path | None) -> list[Change]:
    ancestors = []
    parent = dest.rpartition("/")[0]
    while parent:
        ancestors.append(parent)
        parent = parent.rpartition("/")[0]
    changes = []
    existing = base_root is not None
    for path in reversed(ancestors):  # shallow first: a real directory at every step so far
        if existing and base_root is not None:
            try:
                existing = stat.S_ISDIR(os.lstat(base_root / path).st_mode)
            except FileNotFoundError:
                existing = False
        if existing and base_root is not None:
            changes.append(Change(path, ChangeKind.ADD, base_root / path))
        else:
            changes.append(Change(path, ChangeKind.ADD, None, item.uid, item.gid))
    return changes


def copy_changes(
    items: Iterable[CopyItem], *, parents: bool = True, base_root: Path | None = None
) -> list[Change]:
    found: dict[str, Change] = {}
    for item in items:
        dest = real_path(base_root, item.dest) if base_root is not None else item.dest.strip("/")
        if parents:
            for change in _parent_changes(dest, item, base_root):
                found.setdefault(change.path, change)
        if dest:
            found[dest] = Change(dest, ChangeKind.ADD, item.source, item.uid, item.gid, item.mode)
        if item.source.is_dir() and not item.source.is_symlink():
            for dirpath, dirnames, filenames in os.walk(item.source):
                rel_dir = os.path.relpath(dirpath, item.source)
                for name in dirnames + filenames:
                    rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                    path = f"{dest}/{rel}" if dest else rel
                    found[path] = Change(path, ChangeKind.ADD, Path(dirpath) / name,
                                         item.uid, item.gid, item.mode)
    return [found[p] for p in sorted(found)]
