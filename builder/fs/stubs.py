"""Mountpoint stubs: what a RUN step's bind mounts need, created before and removed after.

Problem: to bind-mount /etc/resolv.conf, /etc/hosts, a secret or a cache dir into the step's
root, the mountpoint must exist. On an overlay root, creating it writes an empty file or dir
into the upper dir (and copies up and touches its parent), which would end up in the layer.

Approach (the sandbox relies on it):
1. Before the step, the sandbox calls `stubs = create_mount_stubs(root, targets)` with every
   mount target (`MountTarget(path, is_dir)`). Only what is missing is created (parents as
   0755 dirs, the target as an empty 0644 file or 0755 dir); the mtimes of the existing
   directory each new chain hangs off are recorded. Resolution stays inside `root`
   (`builder.fs.paths`), so a symlinked /etc in a hostile image cannot point it elsewhere.
2. The step runs; its writes to mounted paths go to the mount sources, never to the root.
3. After the step, with the bind mounts unmounted, the sandbox calls `stubs.remove()`: each
   created stub is removed again if it is still an empty file/dir (if the step somehow put
   content there, it stays and is captured), and the recorded parent mtimes are restored.
4. The snapshot is taken with the mount targets in its ignore list (plus DEFAULT_IGNORES), so
   nothing at or below a target is captured even if non-empty. On overlay, a parent that was
   only copied up and has its original metadata back is dropped by `OverlaySnapshot.changes()`;
   the walk snapshotter compares directory mtimes (not ctimes), so it agrees.
Targets that already exist in the image are left alone; mounting over them changes nothing.

API: `MountTarget(path, is_dir)`, `create_mount_stubs(root, targets) -> MountStubs`,
`MountStubs.remove()`, `MountStubs.created` (image paths created, for logging/tests).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from builder.fs.paths import RootDir, split_name


@dataclass(frozen=True)
class MountTarget:
    path: str
    is_dir: bool


@dataclass
class MountStubs:
    root: Path
    created: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)
    parent_times: dict[tuple[str, ...], tuple[int, int]] = field(default_factory=dict)

    def remove(self) -> None:
        root = RootDir(self.root)
        try:
            for parts, is_dir in reversed(self.created):
                opened = root.open_dir(parts[:-1], create=False)
                if opened is None:
                    continue
                fd, _ = opened
                try:
                    st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
                    if is_dir and stat.S_ISDIR(st.st_mode):
                        try:
                            os.rmdir(parts[-1], dir_fd=fd)
                        except OSError:
                            pass  # not empty: the step put something there; keep it
                    elif not is_dir and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                        os.unlink(parts[-1], dir_fd=fd)
                except FileNotFoundError:
                    pass
                finally:
                    os.close(fd)
            for parts, times in sorted(self.parent_times.items(), key=lambda i: -len(i[0])):
                _set_times(root, parts, times)
        finally:
            root.close()


def _set_times(root: RootDir, parts: tuple[str, ...], times: tuple[int, int]) -> None:
    if not parts:
        os.utime(root.path, ns=times)
        return
    opened = root.open_dir(parts[:-1], create=False)
    if opened is None:
        return
    try:
        os.utime(parts[-1], ns=times, dir_fd=opened[0], follow_symlinks=False)
    finally:
        os.close(opened[0])


def create_mount_stubs(root: Path, targets: Iterable[MountTarget]) -> MountStubs:
    stubs = MountStubs(Path(root))
    rootdir = RootDir(stubs.root)
    try:
        for target in targets:
            parts = split_name(target.path)
            for depth in range(1, len(parts) + 1):
                opened = rootdir.open_dir(parts[: depth - 1], create=False)
                assert opened is not None  # every earlier component exists by now
                fd, real = opened
                try:
                    name = parts[depth - 1]
                    try:
                        os.stat(name, dir_fd=fd, follow_symlinks=False)
                        continue
                    except FileNotFoundError:
                        pass
                    if real not in stubs.parent_times and not any(
                        real[: len(c)] == c for c, _ in stubs.created
                    ):
                        st = os.stat(".", dir_fd=fd)
                        stubs.parent_times[real] = (st.st_atime_ns, st.st_mtime_ns)
                    last = depth == len(parts)
                    if last and not target.is_dir:
                        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd))
                    else:
                        os.mkdir(name, 0o755, dir_fd=fd)
                    stubs.created.append((real + (name,), not (last and not target.is_dir)))
                finally:
                    os.close(fd)
    finally:
        rootdir.close()
    return stubs
