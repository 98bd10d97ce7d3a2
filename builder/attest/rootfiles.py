"""Read-only access to an image's root filesystem that never leaves it: symlinks met while
reading are resolved inside the root (an absolute target restarts at the root, as in a
chroot), and walks never follow them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from builder.errors import LayerError
from builder.fs.paths import MAX_SYMLINKS, RootDir

MAX_READ = 16 << 20
"""Package databases and metadata files larger than this are not read (not a real one)."""
PSEUDO_FILESYSTEMS = frozenset({"proc", "sys", "dev"})


class ImageRoot:
    """One root filesystem; `close()` (or `with`) releases its directory descriptor."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root)
        self._dir = RootDir(self.path)

    def __enter__(self) -> ImageRoot:
        return self

    def __exit__(self, *_: object) -> None:
        self._dir.close()

    def read(self, path: str) -> bytes | None:
        """The bytes of the regular file at image path `path`; None when it is missing, not a
        regular file or larger than MAX_READ."""
        fd = self._open(path)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as stream:
            if os.fstat(stream.fileno()).st_size > MAX_READ:
                return None
            return stream.read()

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "replace")

    def listdir(self, path: str) -> list[str]:
        """The names in the directory at image path `path` (sorted; [] when there is none)."""
        try:
            opened = self._dir.open_dir(_parts(path), create=False)
        except (LayerError, OSError):
            return []
        if opened is None:
            return []
        fd, _ = opened
        try:  # open_dir's descriptors are O_PATH: listing needs a readable one
            listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            return sorted(os.listdir(listing))
        finally:
            os.close(listing)

    def real_dir(self, path: str) -> str | None:
        """Image path `path` of a directory with every symlink in it resolved inside the root
        ("bin" -> "usr/bin" where /bin -> usr/bin); None when it is no directory."""
        try:
            opened = self._dir.open_dir(_parts(path), create=False)
        except (LayerError, OSError):
            return None
        if opened is None:
            return None
        os.close(opened[0])
        return "/".join(opened[1])

    def walk(self) -> Iterator[tuple[str, list[str], list[str]]]:
        """os.walk over the root (image paths relative to it, "" for the root itself) that
        enters real directories only and skips /proc, /sys and /dev."""
        for top, dirs, files in os.walk(self.path, followlinks=False):
            relative = os.path.relpath(top, self.path)
            relative = "" if relative == "." else relative
            if not relative:
                dirs[:] = [d for d in dirs if d not in PSEUDO_FILESYSTEMS]
            dirs.sort()
            yield relative, dirs, sorted(files)

    def _open(self, path: str) -> int | None:
        parts = _parts(path)
        for _ in range(MAX_SYMLINKS):
            if not parts:
                return None
            try:
                opened = self._dir.open_dir(parts[:-1], create=False)
            except (LayerError, OSError):
                return None
            if opened is None:
                return None
            fd, real = opened
            try:
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(parts[-1], dir_fd=fd)
                    base = () if target.startswith("/") else real
                    parts = base + _parts(target)
                    continue
                if not stat.S_ISREG(st.st_mode):
                    return None
                return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError:
                return None
            finally:
                os.close(fd)
        return None


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p not in ("", "."))
