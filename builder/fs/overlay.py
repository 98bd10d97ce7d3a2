"""Overlay snapshotter: run a step on an overlayfs mount; its upper dir is the step's change.

API:
- `OverlaySnapshot(lowers, scratch)`: `lowers` are read-only dirs, TOP FIRST (e.g. extracted
  layer dirs from `Store.layers` followed by earlier step uppers); `scratch` is an empty
  directory it owns (upper/, work/, merged/ are created inside; keep it on a fast fs).
  `mount()` / `unmount()` (also a context manager); `.merged` is the root the step runs in;
  `.upper` holds the raw change; `changes(ignore=DEFAULT_IGNORES) -> list[Change]`.
  After `unmount()` the upper dir can itself serve as the lower dir of the next step.
- `overlay_available(scratch) -> bool`: can we mount overlayfs here (root, kernel)?

Conversion: an overlay whiteout (0/0 char device) becomes DELETE, a directory with
`trusted.overlay.opaque=y` becomes OPAQUE. A directory overlay merely copied up (same mode,
owner, mtime and xattrs as in the lower dir) and with no captured change below it is dropped.
So is a non-directory copied up unchanged (same metadata, xattrs and content as the lower
one): link() copies its source up, and a new hard link to a lower file changes only that
file's link count and ctime — BuildKit's overlay differ (util/overlay sameDirent) skips it too.

Mountpoint stubs (the contract with `builder.sandbox`): to bind-mount /etc/resolv.conf,
/etc/hosts, secrets or cache dirs, the sandbox creates the mountpoints the image lacks in the
merged root, which writes them (and copies up their parents) into the upper dir. So the
sandbox removes every stub it created after the step (if still its own, empty) and puts the
parents' mtimes back; the caller passes the mount targets (plus DEFAULT_IGNORES) as `ignore`,
so nothing at or below a target is captured even if non-empty; and the rule above drops the
parents that were only copied up. A step's real change in such a parent is still captured.
Targets that already exist in the image are mounted over without touching the upper dir. Mount options: `index=off,metacopy=off,redirect_dir=off,xino=off` — every changed file
is fully copied up and a renamed directory is copied, never a redirect we could not express
in a layer. The lowerdir option is limited to one page, so lower dirs are passed as
`/proc/self/fd/N` of descriptors we hold (17 bytes each, ~200 lowers fit).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Iterable, Sequence

from builder.errors import LayerError
from builder.fs.changes import (
    DEFAULT_IGNORES,
    Change,
    ChangeKind,
    image_xattrs,
    is_ignored,
    normalize_ignores,
)

OPAQUE_XATTR = "trusted.overlay.opaque"
MNT_DETACH = 2
_libc = None


def _mount_syscalls() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _mount_overlay(lowers: Sequence[Path], upper: Path, work: Path, target: Path) -> None:
    fds = [os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for p in lowers]
    try:
        options = (
            "lowerdir=" + ":".join(f"/proc/self/fd/{fd}" for fd in fds)
            + f",upperdir={upper},workdir={work},index=off,metacopy=off,redirect_dir=off,xino=off"
        )
        if len(options) >= 4096:
            raise LayerError(f"too many lower layers for one overlay mount ({len(lowers)})")
        libc = _mount_syscalls()
        if libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, options.encode()) != 0:
            err = ctypes.get_errno()
            raise LayerError(
                f"cannot mount overlayfs on {target}: {os.strerror(err)}",
                hint="run as root, or use the walk snapshotter (--snapshot-mode)",
            )
    finally:
        for fd in fds:
            os.close(fd)


def unmount(target: Path) -> None:
    libc = _mount_syscalls()
    if libc.umount2(os.fsencode(target), 0) != 0:
        err = ctypes.get_errno()
        if err == errno.EBUSY:
            libc.umount2(os.fsencode(target), MNT_DETACH)
        elif err not in (errno.EINVAL, errno.ENOENT):
            raise LayerError(f"cannot unmount {target}: {os.strerror(err)}")


def overlay_available(scratch: Path) -> bool:
    """True when an overlay mounts here. Any failure (no CAP_SYS_ADMIN in a container, no
    overlay in the kernel, a scratch fs overlay refuses as upper) means "use the walk"; only
    a mount the probe made is unmounted."""
    probe = Path(scratch) / ".overlay-probe"
    dirs = [probe / d for d in ("lower", "upper", "work", "merged")]
    try:
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
        _mount_overlay([dirs[0]], dirs[1], dirs[2], dirs[3])
    except (LayerError, OSError):
        return False
    else:
        unmount(dirs[3])
        return True
    finally:
        shutil.rmtree(probe, ignore_errors=True)


class OverlaySnapshot:
    def __init__(self, lowers: Sequence[Path], scratch: Path) -> None:
        self.scratch = Path(scratch)
        self.upper = self.scratch / "upper"
        self.work = self.scratch / "work"
        self.merged = self.scratch / "merged"
        self.empty = self.scratch / "empty"
        self.lowers = [Path(p) for p in lowers]
        self.mounted = False

    def mount(self) -> Path:
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
        lowers = self.lowers
        if not lowers:
            self.empty.mkdir(exist_ok=True)
            lowers = [self.empty]
        _mount_overlay(lowers, self.upper, self.work, self.merged)
        self.mounted = True
        return self.merged

    def unmount(self) -> None:
        if self.mounted:
            unmount(self.merged)
            self.mounted = False

    def __enter__(self) -> "OverlaySnapshot":
        self.mount()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()

    def _in_lowers(self, rel: str) -> tuple[Path, os.stat_result] | None:
        """Where `rel` shows through the lower dirs (top first), honouring whiteouts, opaque
        dirs and non-directories that hide what lies below them."""
        parts = rel.split("/")
        for lower in self.lowers:
            hides_below = False
            for depth in range(1, len(parts) + 1):
                path = lower.joinpath(*parts[:depth])
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    break
                if depth == len(parts):
                    whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
                    return None if whiteout else (lower, st)
                if not stat.S_ISDIR(st.st_mode):
                    return None
                hides_below = hides_below or _is_opaque(path)
            if hides_below:
                return None
        return None

    def _same_as_lower(self, rel: str, st: os.stat_result) -> bool:
        found = self._in_lowers(rel)
        if found is None or not stat.S_ISDIR(found[1].st_mode):
            return False
        lower, low = found
        if (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns) != (
            low.st_mode, low.st_uid, low.st_gid, low.st_mtime_ns
        ):
            return False
        return image_xattrs(self.upper / rel) == image_xattrs(lower / rel)

    def _unchanged_copy_up(self, rel: str, st: os.stat_result) -> bool:
        found = self._in_lowers(rel)
        if found is None:
            return False
        lower, low = found
        if (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_size, st.st_mtime_ns) != (
            low.st_mode, low.st_uid, low.st_gid, low.st_rdev, low.st_size, low.st_mtime_ns
        ) or image_xattrs(self.upper / rel) != image_xattrs(lower / rel):
            return False
        if stat.S_ISLNK(st.st_mode):
            return os.readlink(self.upper / rel) == os.readlink(lower / rel)
        return not stat.S_ISREG(st.st_mode) or _same_content(self.upper / rel, lower / rel)

    def changes(self, ignore: Iterable[str] = DEFAULT_IGNORES) -> list[Change]:
        ignores = frozenset(normalize_ignores(ignore))
        found: dict[str, Change] = {}
        dirs: list[tuple[str, os.stat_result]] = []
        todo = [""]
        while todo:
            rel_dir = todo.pop()
            with os.scandir(self.upper / rel_dir) as entries:
                for entry in entries:
                    rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                    if is_ignored(rel, ignores):
                        continue
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                        found[rel] = Change(rel, ChangeKind.DELETE)
                    elif stat.S_ISDIR(st.st_mode):
                        if _is_opaque(self.upper / rel):
                            found[rel] = Change(rel, ChangeKind.OPAQUE, self.upper / rel)
                        else:
                            dirs.append((rel, st))
                        todo.append(rel)
                    elif not self._unchanged_copy_up(rel, st):
                        found[rel] = Change(rel, ChangeKind.ADD, self.upper / rel)
        needed = set()
        for rel in found:
            parent = rel.rpartition("/")[0]
            while parent and parent not in needed:
                needed.add(parent)
                parent = parent.rpartition("/")[0]
        for rel, st in sorted(dirs, key=lambda d: -d[0].count("/")):
            if rel in needed or not self._same_as_lower(rel, st):
                found[rel] = Change(rel, ChangeKind.ADD, self.upper / rel)
                parent = rel.rpartition("/")[0]
                while parent and parent not in needed:
                    needed.add(parent)
                    parent = parent.rpartition("/")[0]
        for rel in needed:
            if rel not in found:
                found[rel] = Change(rel, ChangeKind.ADD, self.upper / rel)
        return [found[p] for p in sorted(found)]


def _same_content(a: Path, b: Path, chunk: int = 1 << 20) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            block = fa.read(chunk)
            if block != fb.read(chunk):
                return False
            if not block:
                return True


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
