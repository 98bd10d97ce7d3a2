"""Test helpers for the fs/store tests: building tars entry by entry and describing trees."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from builder.oci.models import Descriptor


@dataclass
class Entry:
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def make_tar(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = e.type
            ti.linkname = e.linkname
            ti.mode = e.mode
            ti.uid, ti.gid = e.uid, e.gid
            ti.mtime = e.mtime
            ti.devmajor, ti.devminor = e.devmajor, e.devminor
            ti.size = len(e.data) if e.type == tarfile.REGTYPE else 0
            ti.pax_headers = {
                "SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape") for k, v in e.xattrs.items()
            }
            tf.addfile(ti, io.BytesIO(e.data) if ti.size else None)
    return out.getvalue()


def write_blob(path: Path, data: bytes, media_type: str = "application/vnd.oci.image.layer.v1.tar") -> Descriptor:
    path.write_bytes(data)
    return Descriptor(mediaType=media_type, digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data))


def xattrs_of(path: str) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted(
        (n, os.getxattr(path, n, follow_symlinks=False))
        for n in names
        if not n.startswith("trusted.overlay.")
    ))


def tree_state(root: Path, *, mtimes: bool = True, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every path below `root` -> (type, mode, uid, gid, content hash / link target, xattrs, mtime s)."""
    state: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel.split("/")[0] in skip:
                continue
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(full)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                what = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                what = None
            state[rel] = (
                stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what,
                xattrs_of(full), int(st.st_mtime) if mtimes and not stat.S_ISLNK(st.st_mode) else None,
            )
    return state


def remove_deep(path: Path) -> None:
    """Remove a tree of any depth (shutil.rmtree recurses in Python)."""
    from builder.fs.paths import remove_tree

    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        remove_tree(fd, path.name)
    finally:
        os.close(fd)
