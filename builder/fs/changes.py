"""The change list a snapshot produces and the layer writer consumes.

A `Change` names an image path (relative, no leading '/': "etc/passwd") and what happened:
- `ADD`: added or modified (any file type, incl. directories that are parents of changes);
  content and metadata come from `source` (a path on disk), or for `source=None` a
  synthesised directory, or for `header` a recorded entry written as it is (a device node the
  unpacker could not create: `builder.fs.devices`). `uid`/`gid`/`mode` override the source's
  metadata (COPY --chown/--chmod).
- `DELETE`: removed since the lower layers (written as `.wh.NAME`).
- `OPAQUE`: a directory that replaced the lower one wholesale (written as the directory plus
  `.wh..wh..opq`); its new contents follow as ADD changes.

Snapshotters return changes sorted by path with every ancestor directory of a change present,
so two snapshotters agree entry for entry. `is_ignored(path, ignore)` is the shared rule for
paths a build never captures (a path equal to or below an ignore entry).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable

from builder.fs.tarformat import TarEntry

# What a RUN step must never capture: kernel filesystems and files the sandbox bind-mounts.
DEFAULT_IGNORES = ("/proc", "/sys", "/dev", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname")


class ChangeKind(enum.Enum):
    ADD = "add"
    DELETE = "delete"
    OPAQUE = "opaque"


@dataclass(frozen=True)
class Change:
    path: str
    kind: ChangeKind
    source: Path | None = None
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None
    header: TarEntry | None = None


def normalize_ignores(ignore: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({p.strip("/") for p in ignore if p.strip("/")}))


def is_ignored(path: str, ignore: Collection[str]) -> bool:
    """`path` and `ignore` entries are relative image paths (see `normalize_ignores`). Looks
    up `path` and each of its ancestors: per-entry callers pass a frozenset."""
    cut = len(path)
    while cut > 0:
        if path[:cut] in ignore:
            return True
        cut = path.rfind("/", 0, cut)
    return False


def keep_below(keep: tuple[str, ...], base: str) -> tuple[str, ...] | None:
    """Normalized `keep` paths as seen from the directory `base` (a normalized path, "" for
    the root): those inside it, relative to it; None when `base` itself is kept."""
    if not base:
        return keep
    if is_ignored(base, keep):
        return None
    return tuple(k[len(base) + 1:] for k in keep if k.startswith(base + "/"))


def with_ancestors(changes: dict[str, Change], source_root: Path) -> list[Change]:
    """Add an ADD change for every missing ancestor directory, then sort by path."""
    for path in list(changes):
        parent = path.rpartition("/")[0]
        while parent and parent not in changes:
            changes[parent] = Change(parent, ChangeKind.ADD, source_root / parent)
            parent = parent.rpartition("/")[0]
    return [changes[p] for p in sorted(changes)]


OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def image_xattrs(path: Path) -> dict[str, bytes]:
    """The xattrs a layer records for `path`: all but overlayfs' own bookkeeping."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {
        n: os.getxattr(path, n, follow_symlinks=False)
        for n in names
        if not n.startswith(OVERLAY_XATTR_PREFIXES)
    }
