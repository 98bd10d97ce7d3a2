"""Device nodes an unpack could not create, remembered so the layers that must hold them do.

Without CAP_MKNOD (an unprivileged container) a layer's device nodes cannot exist in the
directory it is unpacked into, yet a layer made from that directory must carry them: a COPY
--from a stage whose root had them, an ADD of a root filesystem archive, the combined layer of
--single-snapshot, `FROM scratch` + `COPY --from=base / /`. This module is the process's record
of such nodes, by directory (never a file in the root: nothing of it can reach a snapshot):

- the unpacker `record`s each node it could not create (its tar header: type, major/minor,
  mode, owner, mtime, xattrs) and `forget`s it when a later entry, whiteout or opaque
  directory of a layer replaces it;
- the copier carries a directory's records along to where it copies the directory;
- the walk snapshot lists a recorded node as if it were on disk, so the layer it writes
  re-emits the node unchanged (and a whiteout when a later layer removed it).

A record holds while its directory is the same inode and nothing real sits at its name.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Container
from dataclasses import dataclass

from builder.fs.paths import fd_path
from builder.fs.tarformat import TarEntry


@dataclass(frozen=True)
class _Record:
    dir_id: tuple[int, int]  # (st_dev, st_ino) of the directory when the node was recorded
    header: TarEntry


_lock = threading.Lock()
_by_dir: dict[str, dict[str, _Record]] = {}


def any_recorded() -> bool:
    """Cheap guard for the callers' hot paths: almost always False (root has CAP_MKNOD)."""
    return bool(_by_dir)


def record(dir_fd: int, name: str, header: TarEntry) -> None:
    """Remember `header` (a character or block device) as the entry `name` in `dir_fd`."""
    st = os.fstat(dir_fd)
    kept = dataclasses.replace(header, name=name, size=0, _reader=None, xattrs=dict(header.xattrs))
    with _lock:
        _by_dir.setdefault(fd_path(dir_fd), {})[name] = _Record((st.st_dev, st.st_ino), kept)


def forget(directory: str, name: str) -> None:
    """`name` in `directory` (a canonical path) is something else now, or gone."""
    if not _by_dir:
        return
    with _lock:
        names = _by_dir.get(directory)
        if names is not None and names.pop(name, None) is not None and not names:
            del _by_dir[directory]


def forget_except(directory: str, keep: Container[str]) -> None:
    """An opaque directory: only the names in `keep` survive."""
    if not _by_dir:
        return
    with _lock:
        names = _by_dir.get(directory, {})
        for name in [n for n in names if n not in keep]:
            del names[name]
        if not names:
            _by_dir.pop(directory, None)


def forget_under(directory: str) -> None:
    """A tree that is removed wholesale (a snapshotter's scratch)."""
    prefix = os.path.realpath(directory)
    with _lock:
        for path in [p for p in _by_dir if p == prefix or p.startswith(prefix + "/")]:
            del _by_dir[path]


def recorded_in(directory: str) -> dict[str, TarEntry]:
    """The valid records of `directory` (a canonical path) by name: its inode unchanged,
    nothing on disk there."""
    if not _by_dir:
        return {}
    path = directory
    with _lock:
        names = dict(_by_dir.get(path, {}))
    if not names:
        return {}
    try:
        st = os.stat(path)
    except OSError:
        return {}
    found = {}
    for name, rec in names.items():
        if rec.dir_id != (st.st_dev, st.st_ino) or os.path.lexists(os.path.join(path, name)):
            continue
        found[name] = rec.header
    return found
