"""Write COPY/ADD sources into a step's root without ever leaving it.

Destination directories are resolved inside the root (`builder.fs.paths.RootDir`: symlinks in
the image are followed as a chroot would, never out of it); below that, entries are created
relative to directory descriptors with O_NOFOLLOW. Missing destination directories are
created 0755 and owned like the copied files. Files keep their mode (or --chmod), mtime and
xattrs; owner is --chown, else 0:0 for the build context, else the source's own. Device
nodes that could not be created in the source root (no CAP_MKNOD) are recorded at the
destination (`builder.fs.devices`), so the step's layer still carries them.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from builder.dockerfile.chmod import Chmod
from builder.dockerfile.dockerignore import DockerIgnore
from builder.errors import BuildError
from builder.fs import devices
from builder.fs.changes import image_xattrs
from builder.fs.copysources import Target
from builder.fs.paths import RootDir, fd_path
from builder.fs.patterns import ExcludeMatcher
from builder.fs.tarformat import BLK, CHR, TarEntry

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class CopyOptions:
    owner: tuple[int, int] | None = None
    """uid, gid for everything written; None keeps the source's owner."""
    mode: Chmod | None = None  # --chmod, applied to each entry's own mode
    exclude: ExcludeMatcher | None = None
    """--exclude: matched against paths below the copied source."""
    ignore: DockerIgnore | None = None
    """.dockerignore: matched against paths below the build context."""
    prefix: str = ""
    """The copied source's path below the context (for `ignore`)."""
    keep: tuple[str, ...] = ()
    """Host paths neither written nor replaced, nor anything below them (container-root: the
    builder's files and the container's mounts, as kaniko's ignore list)."""


def copy_targets(root: Path, targets: list[Target], options: CopyOptions) -> None:
    rootdir = RootDir(root)
    try:
        for target in targets:
            _copy_target(rootdir, target, options)
    finally:
        rootdir.close()


def _dest_parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p)


def ensure_dir(rootdir: RootDir, parts: tuple[str, ...], owner: tuple[int, int] | None) -> int:
    """fd (O_RDONLY) of the directory `parts` inside the root, created as needed."""
    fd = os.open(".", _O_DIR, dir_fd=rootdir.fd)
    try:
        for i, name in enumerate(parts):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                os.mkdir(name, 0o755, dir_fd=fd)
                uid, gid = owner or (0, 0)
                os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                # Resolve the rest through the root, as a chroot would.
                opened = rootdir.open_dir(parts[: i + 1], create=True)
                assert opened is not None
                path_fd, real = opened
                os.close(path_fd)
                os.close(fd)
                return ensure_dir(rootdir, real + parts[i + 1 :], owner)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                raise BuildError(f"cannot copy to /{'/'.join(parts[: i + 1])}: not a directory")
            nfd = os.open(name, _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _copy_target(rootdir: RootDir, target: Target, options: CopyOptions) -> None:
    src = target.source
    dest = _dest_parts(target.dest)
    if src.is_dir:
        fd = ensure_dir(rootdir, dest, options.owner)
        try:
            _copy_tree(src.path, fd, "", dataclasses.replace(options, prefix=src.rel.strip("/")))
        finally:
            os.close(fd)
        return
    if target.into_dir or not dest:
        parent, name = dest, _name(target)
    else:
        parent, name = dest[:-1], dest[-1]
        existing = rootdir.open_dir(dest, create=False) if _is_dir_or_link(rootdir, dest) else None
        if existing is not None:  # an existing directory: the file goes inside it
            os.close(existing[0])
            parent, name = existing[1], _name(target)
    fd = ensure_dir(rootdir, parent, options.owner)
    try:
        if src.device is not None:
            _copy_recorded(src.device, fd, name, options)
        else:
            _copy_entry(src.path, os.lstat(src.path), fd, name, options)
    finally:
        os.close(fd)


def _name(target: Target) -> str:
    """The source's own name as written or matched (a followed symlink keeps its name)."""
    return target.source.rel.rstrip("/").rpartition("/")[2] or target.source.path.name


def _is_dir_or_link(rootdir: RootDir, parts: tuple[str, ...]) -> bool:
    try:
        opened = rootdir.open_dir(parts, create=False)
    except BuildError:
        return False
    except Exception:
        return False
    if opened is None:
        return False
    os.close(opened[0])
    return True


class _Verdict(Enum):
    COPY = 1
    SKIP = 2
    LOOK_INSIDE = 3  # excluded, but `!` patterns may re-include something below it


def _copy_tree(src_dir: Path, dst_fd: int, rel: str, options: CopyOptions) -> None:
    for entry, st, child_rel, verdict in _children(src_dir, rel, options):
        if verdict is _Verdict.LOOK_INSIDE and not _holds_included(Path(entry.path), child_rel,
                                                                   options):
            continue
        _copy_entry(Path(entry.path), st, dst_fd, entry.name, options, child_rel)
    recorded = devices.any_recorded() and devices.recorded_in(os.path.realpath(src_dir))
    for name, header in (recorded or {}).items():
        child_rel = f"{rel}/{name}" if rel else name
        if _verdict(child_rel, False, options) is _Verdict.COPY:
            _copy_recorded(header, dst_fd, name, options)


def _copy_recorded(header: TarEntry, dst_fd: int, name: str, options: CopyOptions) -> None:
    """A recorded device node copies as a record at the destination."""
    if _kept(dst_fd, name, options):
        return
    _make_room(dst_fd, name, _lstat_at(dst_fd, name))
    uid, gid = options.owner if options.owner is not None else (header.uid, header.gid)
    mode = options.mode.apply(header.mode & 0o7777, False) if options.mode else header.mode
    devices.record(dst_fd, name, dataclasses.replace(header, uid=uid, gid=gid, mode=mode))


def _children(src_dir: Path, rel: str, options: CopyOptions
              ) -> Iterator[tuple[os.DirEntry[str], os.stat_result, str, _Verdict]]:
    with os.scandir(src_dir) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        child_rel = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        verdict = _verdict(child_rel, stat.S_ISDIR(st.st_mode), options)
        if verdict is not _Verdict.SKIP:
            yield entry, st, child_rel, verdict


def _holds_included(src_dir: Path, rel: str, options: CopyOptions) -> bool:
    """Whether an excluded directory holds a re-included path: only then is it created (as
    BuildKit's fsutil walker emits an excluded parent only for an included child)."""
    for entry, _, child_rel, verdict in _children(src_dir, rel, options):
        if verdict is _Verdict.COPY or _holds_included(Path(entry.path), child_rel, options):
            return True
    return False


def _verdict(rel: str, is_dir: bool, options: CopyOptions) -> _Verdict:
    """Each matcher that excludes `rel` must allow a look inside it (a directory, and `!`
    patterns in that matcher), else it is skipped."""
    verdict = _Verdict.COPY
    if options.exclude and options.exclude.excluded(rel):
        if not (is_dir and options.exclude.has_exceptions):
            return _Verdict.SKIP
        verdict = _Verdict.LOOK_INSIDE
    if options.ignore and options.ignore.patterns:
        path = f"{options.prefix}/{rel}" if options.prefix else rel
        if options.ignore.excluded(path):
            if not (is_dir and options.ignore.has_exclusions):
                return _Verdict.SKIP
            verdict = _Verdict.LOOK_INSIDE
    return verdict


def _owner(st: os.stat_result, options: CopyOptions) -> tuple[int, int]:
    return options.owner if options.owner is not None else (st.st_uid, st.st_gid)


def _copy_entry(
    src: Path, st: os.stat_result, dst_fd: int, name: str, options: CopyOptions, rel: str = ""
) -> None:
    if _kept(dst_fd, name, options):
        return
    uid, gid = _owner(st, options)
    mode = stat.S_IMODE(st.st_mode)
    if options.mode is not None:
        mode = options.mode.apply(mode, stat.S_ISDIR(st.st_mode))
    existing = _lstat_at(dst_fd, name)
    if stat.S_ISDIR(st.st_mode):
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            os.unlink(name, dir_fd=dst_fd)
            existing = None
        if existing is None:
            if devices.any_recorded():
                devices.forget(fd_path(dst_fd), name)
            os.mkdir(name, 0o700, dir_fd=dst_fd)
        fd = os.open(name, _O_DIR, dir_fd=dst_fd)
        try:
            _copy_tree(src, fd, rel or name, options)
            _copy_xattrs(src, fd)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)
        return
    _make_room(dst_fd, name, existing)
    if stat.S_ISREG(st.st_mode):
        _copy_file(src, dst_fd, name, uid, gid, mode, st)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), name, dir_fd=dst_fd)
        os.chown(name, uid, gid, dir_fd=dst_fd, follow_symlinks=False)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_fd, follow_symlinks=False)
    else:
        try:
            os.mknod(name, stat.S_IFMT(st.st_mode) | mode, st.st_rdev, dir_fd=dst_fd)
        except PermissionError:  # a device node, without CAP_MKNOD
            devices.record(dst_fd, name, _device_header(st, uid, gid, mode))
            return
        os.chown(name, uid, gid, dir_fd=dst_fd, follow_symlinks=False)
        os.chmod(name, mode, dir_fd=dst_fd)  # mknod's mode went through the umask
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_fd, follow_symlinks=False)


def _kept(dst_fd: int, name: str, options: CopyOptions) -> bool:
    if not options.keep:
        return False
    path = os.path.join(fd_path(dst_fd), name)
    return any(path == kept or path.startswith(kept + "/") for kept in options.keep)


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _make_room(dst_fd: int, name: str, existing: os.stat_result | None) -> None:
    """Clear the way for a non-directory `name`: a file or a recorded node there goes."""
    if existing is None:
        if devices.any_recorded():
            devices.forget(fd_path(dst_fd), name)
        return
    if stat.S_ISDIR(existing.st_mode):
        raise BuildError(f"cannot replace directory {name!r} with a file")
    os.unlink(name, dir_fd=dst_fd)


def _device_header(st: os.stat_result, uid: int, gid: int, mode: int) -> TarEntry:
    kind = CHR if stat.S_ISCHR(st.st_mode) else BLK
    return TarEntry(name="", type=kind, size=0, mode=mode, uid=uid, gid=gid,
                    mtime=st.st_mtime_ns // 1_000_000_000, linkname="",
                    devmajor=os.major(st.st_rdev), devminor=os.minor(st.st_rdev))


def _copy_file(
    src: Path, dst_fd: int, name: str, uid: int, gid: int, mode: int, st: os.stat_result
) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(name, flags, 0o600, dir_fd=dst_fd)
    try:
        with open(src, "rb") as f:
            _copy_data(f.fileno(), out, st.st_size)
        _copy_xattrs(src, out)
        os.fchown(out, uid, gid)
        os.fchmod(out, mode)  # after chown, which clears setuid bits
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(out)


def _copy_data(src_fd: int, dst_fd: int, size: int) -> None:
    remaining = size
    try:
        while remaining > 0:
            n = os.copy_file_range(src_fd, dst_fd, min(remaining, 1 << 30))
            if n == 0:
                break
            remaining -= n
    except OSError:
        os.lseek(src_fd, size - remaining, os.SEEK_SET)
        while chunk := os.read(src_fd, 1 << 20):
            os.write(dst_fd, chunk)


def _copy_xattrs(src: Path, dst_fd: int) -> None:
    for name, value in image_xattrs(src).items():
        try:
            os.setxattr(dst_fd, name, value)
        except OSError:
            pass
