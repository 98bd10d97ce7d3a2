"""Flatten an OCI image to the file tree a runtime would see, by the OCI layer rules
(image-spec layer.md), reading the layer tars only — no extraction, no symlink is followed:

- entries apply in layer order; a directory over a directory keeps the children, anything
  else replaces what was at the path (a whole subtree included);
- `.wh.NAME` removes NAME (and its subtree) as the lower layers had it, `.wh..wh..opq` removes
  every lower child of its directory; neither touches what the same layer adds, and neither
  follows a symlink a lower layer had at its path (paths are names, never resolved);
- a hard link shares its target's node: a later change to one of the names breaks the link;
- parents an entry needs but no layer gave are created as root-owned 0755 directories.

`tests/differential/test_flatten.py` checks this against `umoci unpack`.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

_KINDS = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo",
}


@dataclass(frozen=True)
class Entry:
    """What the comparison looks at for one path (mtimes are not compared)."""

    kind: str
    mode: int
    uid: int
    gid: int
    detail: str | None = None  # content (see content_detail), link target, or "major,minor"
    xattrs: tuple[tuple[str, str], ...] = ()


@dataclass
class _Node:
    entry: Entry


@dataclass
class FlatImage:
    files: dict[str, Entry]
    hardlinks: set[frozenset[str]]  # groups of paths that are one inode
    config: dict[str, Any] = field(default_factory=dict)


def flatten_layout(layout: Path, platform: str | None = None) -> FlatImage:
    manifest = _manifest(layout, json.loads((layout / "index.json").read_text()), platform)
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_bytes())
    flat = flatten_layers([_blob(layout, d["digest"]) for d in manifest["layers"]])
    flat.config = config
    return flat


def flatten_layers(layers: list[Path]) -> FlatImage:
    tree: dict[str, _Node] = {}
    for layer in layers:
        with tarfile.open(layer, "r:*") as tar:
            _apply(tree, tar)
    by_node: dict[int, set[str]] = {}
    for path, node in tree.items():
        by_node.setdefault(id(node), set()).add(path)
    return FlatImage(
        {path: node.entry for path, node in tree.items() if path != "/"},
        {frozenset(paths) for paths in by_node.values() if len(paths) > 1},
    )


def _apply(tree: dict[str, _Node], tar: tarfile.TarFile) -> None:
    added: set[str] = set()
    removals: list[tuple[str, bool]] = []  # (path, children only)
    for info in tar:
        path = _clean(info.name)
        parent, name = posixpath.split(path)
        if name == OPAQUE:
            removals.append((parent, True))
            continue
        if name.startswith(WHITEOUT):
            removals.append((posixpath.join(parent, name[len(WHITEOUT):]), False))
            continue
        added.update(_ensure_parents(tree, parent))
        added.add(path)
        if info.islnk():
            target = tree[_clean(info.linkname)]
            _remove(tree, path)
            tree[path] = target
            continue
        entry = _entry(tar, info)
        old = tree.get(path)
        if entry.kind == "dir" and old is not None and old.entry.kind == "dir":
            old.entry = entry
            continue
        _remove(tree, path)
        tree[path] = _Node(entry)
    for path, children_only in removals:
        for victim in [p for p in tree if p not in added and _under(p, path, children_only)]:
            del tree[victim]


def _entry(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Entry:
    kind = _KINDS[info.type]
    detail: str | None = None
    if kind == "file":
        reader = tar.extractfile(info)
        assert reader is not None
        detail = content_detail(reader.read())
    elif kind == "symlink":
        detail = info.linkname
    elif kind in ("char", "block"):
        detail = f"{info.devmajor},{info.devminor}"
    xattrs = tuple(sorted((k[len("SCHILY.xattr."):], v) for k, v in info.pax_headers.items()
                          if k.startswith("SCHILY.xattr.")))
    return Entry(kind, info.mode & 0o7777, info.uid, info.gid, detail, xattrs)


def content_detail(data: bytes) -> str:
    """Short text as itself (a failing comparison reads well), anything else as its sha256."""
    if len(data) <= 200:
        try:
            return "text:" + data.decode()
        except UnicodeDecodeError:
            pass
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _ensure_parents(tree: dict[str, _Node], parent: str) -> list[str]:
    missing = []
    while parent not in ("", "/") and parent not in tree:
        missing.append(parent)
        parent = posixpath.dirname(parent)
    for path in reversed(missing):
        tree[path] = _Node(Entry("dir", 0o755, 0, 0))
    return missing


def _remove(tree: dict[str, _Node], path: str) -> None:
    for victim in [p for p in tree if _under(p, path, children_only=False)]:
        del tree[victim]


def _under(candidate: str, path: str, children_only: bool) -> bool:
    if candidate == path:
        return not children_only
    return candidate.startswith(path.rstrip("/") + "/")


def _clean(name: str) -> str:
    return "/" + posixpath.normpath("/" + name).lstrip("/") if name.strip("./") else "/"


def _manifest(layout: Path, document: dict[str, Any], platform: str | None) -> dict[str, Any]:
    if document.get("mediaType", "").endswith("manifest.v1+json") or "layers" in document:
        return document
    choices = document["manifests"]
    if platform is not None and len(choices) > 1:
        os_name, arch = platform.split("/")[:2]
        choices = [m for m in choices
                   if m.get("platform", {}).get("architecture") == arch
                   and m.get("platform", {}).get("os") == os_name]
    return _manifest(layout, json.loads(_blob(layout, choices[0]["digest"]).read_bytes()),
                     platform)


def _blob(layout: Path, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hexdigest
