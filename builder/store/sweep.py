"""Clear what dead builds left in the store's tmp/ (SIGKILL, OOM kill, a lost CI runner).

Every open Store holds a shared lock on `locks/tmp.lock` for its lifetime. A Store that
opens and can take that lock exclusively knows no other process is using the store, so
everything in tmp/ belongs to builds that died: mounts below it are detached first (deepest
first; deleting through a leftover bind mount would delete host files), then it is removed.
With other builds running the sweep waits for a later, lonely start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from builder.errors import LayerError
from builder.fs.overlay import unmount
from builder.fs.paths import remove_tree
from builder.store.locks import FileLock

log = logging.getLogger(__name__)


def hold_tmp(tmp_dir: Path, lock_path: Path) -> FileLock:
    """This process's shared hold on tmp/, after clearing tmp/ if no one else holds it."""
    lock = FileLock(lock_path)
    if lock.acquire(blocking=False):
        try:
            _clear(tmp_dir)
        finally:
            lock.downgrade()
        return lock
    shared = FileLock(lock_path, shared=True)
    shared.acquire()
    return shared


def _clear(tmp_dir: Path) -> None:
    for entry in list(tmp_dir.iterdir()):
        if not _detach_mounts(entry):
            continue
        fd = os.open(tmp_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            remove_tree(fd, entry.name)
        except OSError as err:
            log.warning("cannot remove the leftover %s: %s", entry, err)
        finally:
            os.close(fd)


def _detach_mounts(entry: Path) -> bool:
    """Unmount everything at or below `entry`; False if something stays mounted."""
    for point in sorted(mounts_below(entry), key=len, reverse=True):
        try:
            unmount(Path(point))
        except LayerError as err:
            log.warning("leaving %s in place: %s", entry, err)
            return False
    return not mounts_below(entry)


def mounts_below(path: Path) -> list[str]:
    """Mount points of this mount namespace at or below `path`."""
    prefix = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        points = [_unescape(line.split()[4]) for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field
