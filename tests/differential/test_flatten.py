"""The flattener against `umoci unpack`, an independent implementation of the OCI layer rules,
on layers built to hit every rule: whiteouts and opaque markers (also over a symlink a lower
layer had, and beside entries of their own layer), hard links made and broken, device nodes,
xattrs, replaced subtrees and implied parents."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

from tests.differential.flatten import Entry, FlatImage, content_detail, flatten_layout
from tests.fixtures.images import OCI_CONFIG, OCI_MANIFEST, Blob, image_layout
from tests.fixtures.images import TestImage as Image

OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
Member = tuple[str, str, dict[str, object]]  # name, kind, TarInfo attributes


def _layer(members: list[Member]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, attrs in members:
            info = tarfile.TarInfo(name)
            info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "link": tarfile.LNKTYPE,
                         "symlink": tarfile.SYMTYPE, "char": tarfile.CHRTYPE,
                         "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            data = str(attrs.pop("data", "")).encode()
            for key, value in attrs.items():
                setattr(info, key, value)
            info.size = len(data) if kind == "file" else 0
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return raw.getvalue()


LAYERS: list[list[Member]] = [
    [
        ("a", "dir", {}), ("a/x", "file", {"data": "x"}), ("a/y", "file", {"data": "y"}),
        ("b", "dir", {"mode": 0o700, "uid": 5, "gid": 6}), ("b/z", "file", {"data": "z"}),
        ("lnk", "symlink", {"linkname": "b"}),
        ("s", "dir", {}), ("s/keep", "file", {"data": "k"}),
        ("rep", "dir", {}), ("rep/child", "file", {"data": "c"}),
        ("gone", "dir", {}), ("gone/deep", "dir", {}), ("gone/deep/f", "file", {}),
        ("src", "file", {"data": "v1", "uid": 1000, "gid": 100, "mode": 0o4755}),
        ("hl", "link", {"linkname": "src"}),
        ("pair", "file", {"data": "p"}), ("pair2", "link", {"linkname": "pair"}),
        ("null", "char", {"devmajor": 1, "devminor": 3, "mode": 0o666}),
        ("pipe", "fifo", {}),
        ("attr", "file", {"data": "a", "pax_headers": {"SCHILY.xattr.user.k": "v"}}),
        ("implied/parent/file", "file", {"data": "i"}),
    ],
    [
        ("a/new", "file", {"data": "n"}), ("a/.wh..wh..opq", "file", {}),
        ("lnk", "dir", {"mode": 0o750}), ("lnk/.wh..wh..opq", "file", {}),
        ("lnk/inside", "file", {}),
        ("s/fresh", "file", {}), ("s/.wh.fresh", "file", {}), ("s/.wh.keep", "file", {}),
        ("rep", "file", {"data": "now a file"}),
        (".wh.gone", "file", {}),
        ("src", "file", {"data": "v2"}),  # hl keeps v1: the link is broken
        ("b", "dir", {"mode": 0o711, "uid": 7, "gid": 8}),  # metadata only, children stay
        ("disk", "block", {"devmajor": 7, "devminor": 0}),
    ],
    [
        ("b/z2", "link", {"linkname": "b/z"}),  # a new name for a lower layer's file
        ("pair2", "file", {"data": "p"}),  # same content, new inode: no longer linked
        ("s", "dir", {"mode": 0o700}),
    ],
]


def _image(tmp_path: Path) -> Path:
    layers = [Blob(_layer([(n, k, dict(a)) for n, k, a in members]), OCI_LAYER_TAR)
              for members in LAYERS]
    diff_ids = [layer.digest for layer in layers]
    config = Blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                              "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode(),
                  OCI_CONFIG)
    manifest = Blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                "config": config.descriptor(),
                                "layers": [b.descriptor() for b in layers]}).encode(), OCI_MANIFEST)
    platform = {"architecture": "amd64", "os": "linux"}
    return image_layout(tmp_path / "layout",
                        Image(manifest, config, tuple(layers), tuple(diff_ids), platform))


def _walk(root: Path) -> FlatImage:
    files: dict[str, Entry] = {}
    inodes: dict[int, set[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            rel = "/" + str(path.relative_to(root))
            mode = st.st_mode
            detail: str | None = None
            if stat.S_ISREG(mode):
                kind, detail = "file", content_detail(path.read_bytes())
                inodes.setdefault(st.st_ino, set()).add(rel)
            elif stat.S_ISLNK(mode):
                kind, detail = "symlink", os.readlink(path)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                kind = "char" if stat.S_ISCHR(mode) else "block"
                detail = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
            else:
                kind = "dir" if stat.S_ISDIR(mode) else "fifo"
            xattrs = () if kind == "symlink" else tuple(sorted(
                (k, os.getxattr(path, k).decode()) for k in os.listxattr(path)
                if k.startswith("user.")))
            files[rel] = Entry(kind, stat.S_IMODE(mode), st.st_uid, st.st_gid, detail, xattrs)
    return FlatImage(files, {frozenset(p) for p in inodes.values() if len(p) > 1})


def test_flattening_agrees_with_umoci_unpack(tmp_path: Path) -> None:
    layout = _image(tmp_path)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    theirs = _walk(tmp_path / "bundle/rootfs")
    ours = flatten_layout(layout)
    assert ours.files == theirs.files
    assert ours.hardlinks == theirs.hardlinks
    # The rules the layers were built to exercise, spelled out:
    files = ours.files
    assert "/a/new" in files and "/a/x" not in files  # opaque: lower children only
    assert files["/lnk"].kind == "dir" and "/b/z" in files  # opaque never followed the symlink
    assert "/s/fresh" in files and "/s/keep" not in files  # a whiteout spares its own layer
    assert files["/rep"].kind == "file" and "/rep/child" not in files
    assert not any(p.startswith("/gone") for p in files)
    assert files["/hl"].detail == "text:v1"
    assert ours.hardlinks == {frozenset({"/b/z", "/b/z2"})}
    assert files["/b"] == Entry("dir", 0o711, 7, 8)
    assert files["/implied/parent"] == Entry("dir", 0o755, 0, 0)
