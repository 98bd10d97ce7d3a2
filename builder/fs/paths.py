"""Resolving image paths inside a root directory exactly as a chroot would, without ever
leaving it.

`RootDir(path)` holds an O_PATH descriptor of the root. `open_parent(parts, create=...)`
walks the components one by one with `*at` calls relative to directory descriptors: a symlink
met on the way is read and its target spliced in (absolute targets restart at the root, `..`
never climbs above the root), and only real directories are entered (O_NOFOLLOW). So no tar
entry, symlink or hardlink can name anything outside the root. The last component of an
entry is never followed; callers operate on it with `dir_fd=` + name.

Also: `split_name(name)` (tar entry name -> components; absolute names are made relative,
`..` components are rejected), `remove_tree(dir_fd, name)` (fd-relative, iterative, any depth),
`real_path(root, path)` (an image path with the symlinks in its existing parent directories
resolved inside `root`, e.g. "/bin/sh" -> "usr/bin/sh" when /bin -> usr/bin; the last
component is kept as is), for COPY destinations.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from builder.errors import LayerError

MAX_SYMLINKS = 40
MAX_NAME = 4095
MAX_DEPTH = 2048
DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def split_name(name: str) -> tuple[str, ...]:
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
        raise LayerError(f"tar entry name longer than {MAX_NAME} bytes: {name[:80]}...")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise LayerError(f"tar entry {name!r} contains '..'", hint="the layer is malformed or malicious")
    return parts


class RootDir:
    def __init__(self, root: Path) -> None:
        self.path = Path(root)
        self.fd = os.open(root, DIR_FLAGS)

    def close(self) -> None:
        os.close(self.fd)

    def _walk_real(self, parts: list[str]) -> int:
        fd = os.dup(self.fd)
        for name in parts:
            nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return fd

    def open_dir(
        self, parts: tuple[str, ...], *, create: bool, partial: bool = False,
        start: tuple[int, tuple[str, ...]] | None = None,
    ) -> tuple[int, tuple[str, ...]] | None:
        """O_PATH fd of the directory at `parts` and its real (symlink-free) components.

        Missing directories are created (0755) when `create`; else None is returned, or with
        `partial` the fd of the deepest existing directory and the real path of `parts` (the
        missing rest cleaned lexically, since nothing there can be a symlink).
        `start`: an open directory and its real components that `parts` is relative to (what
        an earlier call returned for a prefix of the path), instead of the root.
        The caller closes the fd.
        """
        pending = list(reversed(parts))
        real: list[str] = list(start[1]) if start else []
        fd = os.dup(start[0] if start else self.fd)
        links = 0
        try:
            while pending:
                name = pending.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    if real:
                        real.pop()
                        os.close(fd)
                        fd = self._walk_real(real)
                    continue
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if partial:
                        rest = [name] + pending[::-1]
                        for part in rest:
                            if part == "..":
                                if real:
                                    real.pop()
                            elif part not in ("", "."):
                                real.append(part)
                        return fd, tuple(real)
                    if not create:
                        os.close(fd)
                        return None
                    os.mkdir(name, 0o755, dir_fd=fd)
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise LayerError(f"too many levels of symlinks resolving /{'/'.join(parts)}")
                    target = os.readlink(name, dir_fd=fd)
                    if target.startswith("/"):
                        real.clear()
                        os.close(fd)
                        fd = os.dup(self.fd)
                    pending.extend(reversed(target.split("/")))
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise LayerError(
                        f"/{'/'.join(parts)}: /{'/'.join(real + [name])} is not a directory"
                    )
                nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
                real.append(name)
                if len(real) > MAX_DEPTH:
                    raise LayerError(f"path deeper than {MAX_DEPTH} directories: /{'/'.join(parts)[:80]}...")
        except BaseException:
            os.close(fd)
            raise
        return fd, tuple(real)


def fd_path(dir_fd: int) -> str:
    """The canonical path of an open directory (from /proc/self/fd)."""
    return os.readlink(f"/proc/self/fd/{dir_fd}")


def remove_tree(dir_fd: int, name: str) -> None:
    """Remove `name` (file or whole directory tree) relative to `dir_fd`, never following links.

    Holds one directory fd at a time (climbing back with '..'), so depth is unlimited.
    """
    try:
        os.unlink(name, dir_fd=dir_fd)
        return
    except FileNotFoundError:
        return
    except IsADirectoryError:
        pass
    except PermissionError:
        if not stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise
    names = [name]
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        while True:
            subdir = None
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        subdir = entry.name
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if subdir is not None:
                nfd = os.open(subdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = nfd
                names.append(subdir)
                continue
            done = names.pop()
            if not names:
                os.close(fd)
                fd = -1
                os.rmdir(done, dir_fd=dir_fd)
                return
            up = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = up
            os.rmdir(done, dir_fd=fd)
    finally:
        if fd >= 0:
            os.close(fd)


def real_path(root: Path, path: str) -> str:
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if not parts:
        return ""
    rootdir = RootDir(root)
    try:
        opened = rootdir.open_dir(parts[:-1], create=False, partial=True)
        assert opened is not None
        os.close(opened[0])
        return "/".join(opened[1] + parts[-1:])
    finally:
        rootdir.close()
