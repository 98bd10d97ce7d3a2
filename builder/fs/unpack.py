"""Safe unpacking of layer tars into a root directory.

API:
- `unpack_layer(blob, media_type, root, *, mode=UnpackMode.MERGED, expect_diff_id=None)
  -> UnpackResult(diff_id, tar_size, bytes_on_disk, entries)`: unpack one layer blob, a path
  or a stream read once (tar, tar+gzip, tar+zstd; the media type must agree with the magic
  bytes).
  `UnpackMode.MERGED` applies OCI whiteouts by deleting from what earlier layers left in
  `root` (unpack a base image by calling it once per layer, bottom first).
  `UnpackMode.OVERLAY_LOWER` unpacks into an empty dir meant as an overlay lower dir:
  `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq` the xattr
  `trusted.overlay.opaque=y` on its directory (needs root).
  With `expect_diff_id` the uncompressed stream is hashed and checked (DigestMismatchError).
- `unpack_tar(stream, root, *, mode)`: the same from an already-uncompressed tar stream.

Safety: every name and hardlink target is resolved inside `root` as a chroot would (see
`builder.fs.paths`); absolute names are made relative, names with `..` are rejected with a
LayerError, a symlink in a parent is followed but cannot leave the root, the last component is
never followed, and hardlinks can only point at files inside the root. Whiteouts (as the OCI
spec says) only hide content of earlier layers. Duplicate entries: the last one wins.
Ownership (numeric), modes incl. setuid/setgid/sticky, mtimes (directories after their
contents) and xattrs (incl. security.capability) are applied; `trusted.overlay.*` xattrs from
the tar are dropped. Device nodes are created where mknod is permitted; without CAP_MKNOD
(an unprivileged container) they are left out of the root with one warning line per process
and recorded (`builder.fs.devices`): RUN steps do not see them, the layers that carry them
reach the image unchanged, and a layer made from the root re-emits them. Any other
EPERM (an owner outside a user namespace's id map) is a LayerError naming the entry.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from builder.errors import DigestMismatchError, LayerError
from builder.fs import devices
from builder.fs.changes import is_ignored
from builder.fs.compression import open_layer_tar
from builder.fs.paths import RootDir, remove_tree, split_name
from builder.fs.tarformat import ByteReader, TarEntry, read_entries

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
CHUNK = 1 << 20
FD_CACHE_SIZE = 64


class UnpackMode(enum.Enum):
    MERGED = "merged"
    OVERLAY_LOWER = "overlay-lower"


@dataclass(frozen=True)
class UnpackResult:
    diff_id: str | None
    """The checked diffID; None when none was expected (nothing hashed)."""
    tar_size: int
    bytes_on_disk: int
    entries: int


class _HashingReader:
    """Counts the uncompressed bytes and, when they are to be checked, hashes them."""

    def __init__(self, raw: BinaryIO, hashing: bool) -> None:
        self._raw = raw
        self.hash = hashlib.sha256() if hashing else None
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._raw.read(n)
        except Exception as err:  # zlib, isal, zstd and gzip-header errors alike
            raise LayerError(f"cannot decompress layer: {err}") from err
        if self.hash is not None:
            self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


_Tree = dict[str, "_Tree"]


class _Created:
    """The set of real paths this layer created (a trie, so memory follows the entry count)."""

    def __init__(self) -> None:
        self.tree: _Tree = {}

    def add(self, parts: tuple[str, ...]) -> None:
        node = self.tree
        for p in parts:
            node = node.setdefault(p, {})

    def node(self, parts: tuple[str, ...]) -> _Tree | None:
        node: _Tree | None = self.tree
        for p in parts:
            node = node.get(p) if node is not None else None
        return node


def xattrs_of(ti: TarEntry) -> dict[str, bytes]:
    return {k: v for k, v in ti.xattrs.items() if not k.startswith("trusted.overlay.")}


class _Unpacker:
    def __init__(self, root: Path, mode: UnpackMode, keep: tuple[str, ...] = ()) -> None:
        self.root = RootDir(root)
        self.real_root = os.path.realpath(root)  # the key of builder.fs.devices' records
        self.mode = mode
        self.keep = frozenset(keep)  # normalized image paths left alone (container-root)
        self.is_root = os.geteuid() == 0
        self._root_group = self.is_root and os.getegid() == 0
        self.created = _Created()
        self.dir_mtimes: list[tuple[tuple[str, ...], int]] = []
        self._fds: dict[tuple[str, ...], tuple[int, tuple[str, ...]]] = {}
        self.bytes_on_disk = 0
        self.entries = 0
        self._warned: set[str] = set()
        self.skipped_devices: list[str] = []
        self._made: dict[tuple[str, ...], bool] = {}
        """Directories this unpack made (empty then), by whether a file made in one gets the
        process's group (no setgid bit): no lookup, chown or chmod is needed to know it."""
        self._umask = _process_umask()

    def close(self) -> None:
        self._forget_fds()
        self.root.close()

    def _forget_fds(self, keep: int = -1) -> None:
        for key, (fd, _) in list(self._fds.items()):
            if fd != keep:
                os.close(fd)
                del self._fds[key]

    def _warn_once(self, what: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("unpacking without root: %s skipped", what)

    def _parent(self, parts: tuple[str, ...], *, create: bool) -> tuple[int, tuple[str, ...]] | None:
        cached = self._fds.get(parts)
        if cached is not None:
            return cached
        for cut in range(len(parts) - 1, 0, -1):  # from the nearest directory open already
            start = self._fds.get(parts[:cut])
            if start is not None:
                opened = self.root.open_dir(parts[cut:], create=create, start=start)
                break
        else:
            opened = self.root.open_dir(parts, create=create)
        if opened is None:
            return None
        if len(self._fds) >= FD_CACHE_SIZE:
            self._forget_fds()
        self._fds[parts] = opened
        return opened

    def _real_path(self, real: tuple[str, ...]) -> str:
        return os.path.join(self.real_root, *real)

    def _remove(self, dir_fd: int, name: str) -> None:
        """Remove `name` in `dir_fd`; cached fds below it become stale, `dir_fd` stays valid."""
        remove_tree(dir_fd, name)
        self._forget_fds(keep=dir_fd)

    # --- entries -------------------------------------------------------------------------

    def add(self, ti: TarEntry) -> None:
        self.entries += 1
        parts = split_name(ti.name)
        if not parts:
            if ti.isdir():
                self._apply_dir_meta(self.root.fd, ".", (), ti)
            return
        if self.keep and is_ignored("/".join(parts), self.keep):
            return
        *parent, name = parts
        if name == OPAQUE_MARKER:
            self._opaque(tuple(parent))
            return
        if name.startswith(WHITEOUT_PREFIX):
            self._whiteout(tuple(parent), name[len(WHITEOUT_PREFIX):])
            return
        opened = self._parent(tuple(parent), create=True)
        assert opened is not None
        dir_fd, real_parent = opened
        real = real_parent + (name,)
        in_made = real_parent in self._made
        existing = None
        if not in_made or self.created.node(real) is not None:
            try:
                existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass
        if existing is not None and not (ti.isdir() and stat.S_ISDIR(existing.st_mode)):
            self._remove(dir_fd, name)
            existing = None
        elif existing is None and devices.any_recorded():
            devices.forget(self._real_path(real_parent), name)
        if ti.isdir():
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=dir_fd)
                self._made[real] = not ti.mode & stat.S_ISGID
            self._apply_dir_meta(dir_fd, name, real, ti)
        elif ti.isreg():
            self._write_file(ti, dir_fd, name, owned=self._made.get(real_parent, False))
        elif ti.issym():
            if not ti.linkname:
                raise LayerError(f"symlink {ti.name!r} has an empty target")
            os.symlink(ti.linkname, name, dir_fd=dir_fd)
            self._apply_link_meta(dir_fd, name, ti)
        elif ti.islnk():
            self._hardlink(ti, dir_fd, name)
        elif ti.isfifo() or ti.ischr() or ti.isblk():
            self._special(ti, dir_fd, name)
        else:
            raise LayerError(f"tar entry {ti.name!r} has unsupported type {ti.type!r}")
        self.created.add(real)

    def _write_file(self, ti: TarEntry, dir_fd: int, name: str, *, owned: bool) -> None:
        """`owned`: made in a directory of `_made` whose files get the process's group."""
        mode = ti.mode & 0o7777
        exact = not mode & (0o7000 | self._umask)  # what O_CREAT gives it already
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, mode if exact else 0o600, dir_fd=dir_fd)
        try:
            while chunk := ti.read(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            self.bytes_on_disk += ti.size
            if self.is_root and not (owned and self._root_group and ti.uid == ti.gid == 0):
                os.fchown(fd, ti.uid, ti.gid)
            if not exact:
                os.fchmod(fd, mode)
            self._set_xattrs(f"/proc/self/fd/{fd}", xattrs_of(ti), follow=True)
            os.utime(fd, ns=(_ns(ti.mtime), _ns(ti.mtime)))
        finally:
            os.close(fd)

    def _apply_dir_meta(self, dir_fd: int, name: str, real: tuple[str, ...], ti: TarEntry) -> None:
        if self.is_root:
            os.chown(name, ti.uid, ti.gid, dir_fd=dir_fd, follow_symlinks=False)
        os.chmod(name, ti.mode & 0o7777, dir_fd=dir_fd)
        path = f"/proc/self/fd/{dir_fd}/{name}" if name != "." else f"/proc/self/fd/{dir_fd}"
        self._set_xattrs(path, xattrs_of(ti), follow=False)
        self.dir_mtimes.append((real, _ns(ti.mtime)))

    def _apply_link_meta(self, dir_fd: int, name: str, ti: TarEntry) -> None:
        if self.is_root:
            os.chown(name, ti.uid, ti.gid, dir_fd=dir_fd, follow_symlinks=False)
        self._set_xattrs(f"/proc/self/fd/{dir_fd}/{name}", xattrs_of(ti), follow=False)
        os.utime(name, ns=(_ns(ti.mtime), _ns(ti.mtime)), dir_fd=dir_fd, follow_symlinks=False)

    def _set_xattrs(self, path: str, xattrs: dict[str, bytes], *, follow: bool) -> None:
        for key, value in xattrs.items():
            try:
                os.setxattr(path, key, value, follow_symlinks=follow)
            except OSError as err:
                if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
                    raise
                self._warn_once(f"xattr {key}")

    def _hardlink(self, ti: TarEntry, dir_fd: int, name: str) -> None:
        target = split_name(ti.linkname)
        if not target:
            raise LayerError(f"hardlink {ti.name!r} points at the root directory")
        opened = self.root.open_dir(target[:-1], create=False)
        try:
            if opened is None:
                raise FileNotFoundError
            st = os.stat(target[-1], dir_fd=opened[0], follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise LayerError(f"hardlink {ti.name!r} points at a directory")
            os.link(target[-1], name, src_dir_fd=opened[0], dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            where = "this layer" if self.mode is UnpackMode.OVERLAY_LOWER else "the root"
            raise LayerError(
                f"hardlink {ti.name!r} -> {ti.linkname!r}: target does not exist in {where}"
            ) from None
        finally:
            if opened is not None:
                os.close(opened[0])

    def _special(self, ti: TarEntry, dir_fd: int, name: str) -> None:
        if ti.isfifo():
            os.mkfifo(name, 0o600, dir_fd=dir_fd)
        else:
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
            try:
                os.mknod(name, kind | 0o600, os.makedev(ti.devmajor, ti.devminor), dir_fd=dir_fd)
            except PermissionError:  # no CAP_MKNOD: an unprivileged container, or not root
                self.skipped_devices.append(ti.name)
                devices.record(dir_fd, name, ti)
                return
        if self.is_root:
            os.chown(name, ti.uid, ti.gid, dir_fd=dir_fd, follow_symlinks=False)
        os.chmod(name, ti.mode & 0o7777, dir_fd=dir_fd)
        self._set_xattrs(f"/proc/self/fd/{dir_fd}/{name}", xattrs_of(ti), follow=False)
        os.utime(name, ns=(_ns(ti.mtime), _ns(ti.mtime)), dir_fd=dir_fd, follow_symlinks=False)

    # --- whiteouts -----------------------------------------------------------------------

    def _whiteout(self, parent: tuple[str, ...], name: str) -> None:
        if not name or name in (".", "..") or "/" in name:
            raise LayerError(f"malformed whiteout for {name!r}")
        overlay = self.mode is UnpackMode.OVERLAY_LOWER
        opened = self._parent(parent, create=overlay)
        if opened is None:
            return
        dir_fd, real_parent = opened
        if self.created.node(real_parent + (name,)) is not None:
            return
        if self.keep and self._kept("/".join(real_parent + (name,))):
            return
        self._remove(dir_fd, name)
        devices.forget(self._real_path(real_parent), name)
        if overlay:
            try:
                os.mknod(name, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=dir_fd)
            except PermissionError:
                raise LayerError(
                    "unpacking a layer as an overlay lower dir needs root (whiteout devices)",
                    hint="use the walk snapshotter and UnpackMode.MERGED",
                ) from None

    def _opaque(self, parent: tuple[str, ...]) -> None:
        overlay = self.mode is UnpackMode.OVERLAY_LOWER
        opened = self._parent(parent, create=overlay)
        if opened is None:
            return
        dir_fd, real = opened
        if overlay:
            os.setxattr(f"/proc/self/fd/{dir_fd}", OVERLAY_OPAQUE_XATTR, b"y")
            return
        self._forget_fds()
        self._clear_lower(real, self.created.node(real) or {})

    def _clear_lower(self, real: tuple[str, ...], keep: _Tree) -> None:
        """Delete everything under `real` that this layer did not create."""
        todo = [(real, keep)]
        while todo:
            path, keep = todo.pop()
            fd = self.root._walk_real(list(path))
            try:
                rfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                with os.scandir(rfd) as entries:
                    names = [e.name for e in entries]
                os.close(rfd)
                devices.forget_except(self._real_path(path), keep)
                for child in names:
                    kept = self._kept("/".join(path + (child,)))
                    if kept == "inside" and child not in keep:
                        todo.append((path + (child,), {}))
                    elif kept:
                        continue
                    elif child not in keep:
                        remove_tree(fd, child)
                    elif keep[child] and stat.S_ISDIR(os.stat(child, dir_fd=fd, follow_symlinks=False).st_mode):
                        todo.append((path + (child,), keep[child]))
            finally:
                os.close(fd)

    def _kept(self, rel: str) -> str | None:
        """"kept" for a path left alone, "inside" for a directory holding one, else None."""
        if is_ignored(rel, self.keep):
            return "kept"
        return "inside" if any(k.startswith(rel + "/") for k in self.keep) else None

    def finish(self) -> None:
        self._forget_fds()
        for real, mtime in sorted(self.dir_mtimes, key=lambda item: -len(item[0])):
            if not real:
                os.utime(self.root.path, ns=(mtime, mtime))
                continue
            try:
                fd = self.root._walk_real(list(real[:-1]))
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                os.utime(real[-1], ns=(mtime, mtime), dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)


def _process_umask() -> int:
    """The umask, read without setting it (os.umask would change it for every thread)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o777  # unknown: every file gets its mode by chmod


def _ns(mtime: float) -> int:
    return int(mtime * 1_000_000_000) if isinstance(mtime, float) else int(mtime) * 1_000_000_000


def unpack_tar(stream: ByteReader, root: Path, *, mode: UnpackMode = UnpackMode.MERGED,
               owner: tuple[int, int] | None = None, keep: tuple[str, ...] = ()) -> tuple[int, int]:
    """Unpack an uncompressed tar stream; returns (entries, bytes_on_disk). `owner`: every
    entry gets that uid:gid instead of its own (ADD --chown of an archive). `keep`:
    normalized image paths (builder.fs.changes.normalize_ignores) neither written, deleted
    by a whiteout nor cleared by an opaque directory — the builder's own files and the
    container's mounts when the root is the container's "/"."""
    root.mkdir(parents=True, exist_ok=True)
    unpacker = _Unpacker(root, mode, keep)
    try:
        try:
            for entry in read_entries(stream):
                if owner is not None:
                    entry.uid, entry.gid = owner
                try:
                    unpacker.add(entry)
                except OSError as err:
                    if err.errno not in (errno.EPERM, errno.EACCES, errno.EINVAL):
                        raise
                    raise LayerError(
                        f"cannot unpack {entry.name!r} (owner {entry.uid}:{entry.gid}, mode "
                        f"{entry.mode:o}): {err.strerror}",
                        hint="this root may not create it (an unprivileged or rootless "
                        "container: an owner outside the user namespace's id map)",
                    ) from err
        except OSError as err:
            if err.errno in (errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
                raise LayerError(f"unsafe or malformed layer entry: {err}") from err
            raise
        unpacker.finish()
    finally:
        unpacker.close()
    if unpacker.skipped_devices:
        _warn_skipped_devices(unpacker.skipped_devices)
    return unpacker.entries, unpacker.bytes_on_disk


_devices_warned = False


def _warn_skipped_devices(names: list[str]) -> None:
    """One line per process: a debootstrap base has dozens of nodes, a build unpacks it often."""
    global _devices_warned
    if not _devices_warned:
        _devices_warned = True
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        log.warning(
            "no CAP_MKNOD here: %d device node(s) of the image (%s) are not created in the "
            "build root; RUN steps do not see them, the image's layers keep them",
            len(names), shown,
        )


def unpack_layer(
    blob: Path | BinaryIO,
    media_type: str,
    root: Path,
    *,
    mode: UnpackMode = UnpackMode.MERGED,
    expect_diff_id: str | None = None,
    keep: tuple[str, ...] = (),
    name: str = "",
) -> UnpackResult:
    """`name` labels a stream's errors (a path's file name does otherwise)."""
    name = name or (blob.name if isinstance(blob, Path) else "")
    with open_layer_tar(blob, media_type, name) as raw:
        reader = _HashingReader(raw, hashing=expect_diff_id is not None)
        entries, on_disk = unpack_tar(reader, Path(root), mode=mode, keep=keep)
        reader.drain()
    diff_id = "sha256:" + reader.hash.hexdigest() if reader.hash is not None else None
    if diff_id != expect_diff_id:
        raise DigestMismatchError(
            f"layer {name}: uncompressed content has diffID {diff_id}, expected {expect_diff_id}"
        )
    return UnpackResult(expect_diff_id, reader.size, on_disk, entries)
