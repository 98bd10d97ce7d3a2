"""The layer writer: deterministic, reproducible, readable by GNU tar, metadata preserved."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.fs.changes import Change, ChangeKind
from builder.fs.layer import CopyItem, copy_changes, write_layer
from builder.fs.unpack import unpack_layer
from builder.store import Store
from tests.unit.fs.helpers import tree_state

CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")


def make_tree(root: Path, stamp: int) -> None:
    """The same tree, built at a different time in a different place."""
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/ping").write_bytes(b"\x7fELF ping")
    os.chmod(root / "usr/bin/ping", 0o4755)
    os.setxattr(root / "usr/bin/ping", "security.capability", CAP_NET_RAW)
    os.setxattr(root / "usr/bin", "user.note", b"\xff\x00binary")
    long_dir = root / ("n" * 120) / ("m" * 120)
    long_dir.mkdir(parents=True)
    (long_dir / ("f" * 200)).write_bytes(os.urandom(0) + b"long" * 1000)
    (root / "usr/bin/hard").write_text("same inode")
    os.link(root / "usr/bin/hard", root / "usr/bin/hard2")
    os.symlink("ping", root / "usr/bin/pong")
    os.mkfifo(root / "fifo")
    os.chown(root / "usr/bin/hard", 1000, 1001)
    os.mkdir(root / "tmp", 0o1777)
    os.chmod(root / "tmp", 0o1777)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (stamp, stamp), follow_symlinks=False)


def layer_of(tmp: Path, name: str, stamp: int, **kwargs):
    src = tmp / name / "src"
    src.mkdir(parents=True)
    make_tree(src, stamp)
    with Store(tmp / name / "store") as store:
        return write_layer(copy_changes([CopyItem(src, "/")]), store, **kwargs), src


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_same_tree_in_two_places_gives_the_same_digest(tmp_path, compression):
    one, _ = layer_of(tmp_path, "one", 1_000, compression=compression, source_date_epoch=500)
    two, _ = layer_of(tmp_path, "two", 2_000, compression=compression, source_date_epoch=500)
    assert (one.diff_id, one.descriptor.digest) == (two.diff_id, two.descriptor.digest)
    assert one.descriptor.size == one.path.stat().st_size


def test_round_trip_keeps_metadata_xattrs_setuid_and_hardlinks(tmp_path):
    layer, src = layer_of(tmp_path, "one", 1_000)
    out = tmp_path / "out"
    result = unpack_layer(layer.path, layer.descriptor.media_type, out, expect_diff_id=layer.diff_id)
    assert result.diff_id == layer.diff_id
    assert tree_state(out) == tree_state(src)
    assert os.getxattr(out / "usr/bin/ping", "security.capability") == CAP_NET_RAW
    assert os.stat(out / "usr/bin/hard").st_ino == os.stat(out / "usr/bin/hard2").st_ino


def test_entries_are_sorted_pax_and_hardlinked(tmp_path):
    layer, _ = layer_of(tmp_path, "one", 1_000, compression="none")
    with tarfile.open(layer.path) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: n.encode())
    hard = [m for m in members if m.islnk()]
    assert [(m.name, m.linkname) for m in hard] == [("usr/bin/hard2", "usr/bin/hard")]
    assert all(m.uname == "" and m.gname == "" for m in members)
    assert any(len(m.name) > 255 for m in members)


def test_gnu_tar_reads_our_layer(tmp_path):
    layer, src = layer_of(tmp_path, "one", 1_000, compression="gzip")
    out = tmp_path / "gnu"
    out.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xzpf", layer.path, "-C", out],
        check=True,
    )
    assert tree_state(out) == tree_state(src)


def test_whiteouts_and_opaque_markers(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    changes = [
        Change("d", ChangeKind.OPAQUE, src / "d"),
        Change("etc/gone", ChangeKind.DELETE),
        Change("etc", ChangeKind.ADD, None),
        Change("zz", ChangeKind.DELETE),
    ]
    with Store(tmp_path / "store") as store:
        layer = write_layer(changes, store, compression="none", source_date_epoch=7)
    with tarfile.open(layer.path) as tf:
        listing = [(m.name, m.type, m.mtime) for m in tf.getmembers()]
    assert [n for n, _, _ in listing] == [".wh.zz", "d", "d/.wh..wh..opq", "etc", "etc/.wh.gone"]
    assert all(mtime <= 7 for _, _, mtime in listing)


def test_copy_changes_applies_overrides_and_parents(tmp_path):
    src = tmp_path / "app"
    (src / "lib").mkdir(parents=True)
    (src / "lib/x.py").write_text("x")
    (tmp_path / "single").write_text("s")
    changes = copy_changes([
        CopyItem(src, "/opt/app", uid=10, gid=20),
        CopyItem(tmp_path / "single", "/usr/local/bin/tool", mode=0o755),
    ])
    by_path = {c.path: c for c in changes}
    assert list(by_path) == sorted(by_path)
    assert by_path["opt"].source is None and by_path["opt/app/lib/x.py"].uid == 10
    assert by_path["usr/local/bin/tool"].mode == 0o755
    with Store(tmp_path / "store") as store:
        layer = write_layer(changes, store, compression="none")
    with tarfile.open(layer.path) as tf:
        x = tf.getmember("opt/app/lib/x.py")
        tool = tf.getmember("usr/local/bin/tool")
    assert (x.uid, x.gid) == (10, 20) and tool.mode == 0o755


def test_copy_into_a_base_resolves_symlinked_parents_and_keeps_their_metadata(tmp_path):
    base = tmp_path / "base"
    (base / "usr/bin").mkdir(parents=True)
    os.chmod(base / "usr", 0o750)
    os.symlink("usr/bin", base / "bin")
    os.symlink("/etc", base / "evil")  # absolute: must resolve inside base, not the host /etc
    (tmp_path / "tool").write_text("t")
    changes = copy_changes(
        [CopyItem(tmp_path / "tool", "/bin/tool"), CopyItem(tmp_path / "tool", "/evil/passwd")],
        base_root=base,
    )
    by_path = {c.path: c for c in changes}
    assert list(by_path) == ["etc", "etc/passwd", "usr", "usr/bin", "usr/bin/tool"]
    assert by_path["usr"].source == base / "usr" and by_path["etc"].source is None


@pytest.mark.parametrize("compression,tool", [("gzip", ["gzip", "-dc"]), ("gzip", ["pigz", "-dc"]), ("zstd", None)])
def test_parallel_compression_is_one_standard_stream(tmp_path, compression, tool):
    src = tmp_path / "src"
    src.mkdir()
    (src / "random").write_bytes(os.urandom(3 << 20))
    (src / "text").write_bytes(b"compressible line\n" * 300_000)  # several 1 MiB blocks
    with Store(tmp_path / "store") as store:
        layer = write_layer(copy_changes([CopyItem(src, "/")]), store, compression=compression)
    if tool is None:
        import zstandard

        with open(layer.path, "rb") as f:
            tar = zstandard.ZstdDecompressor().stream_reader(f).read()
    else:
        tar = subprocess.run([*tool, layer.path], capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(tar).hexdigest() == layer.diff_id
    assert layer.descriptor.size < len(tar)


TREE_NAMES = st.sampled_from(["a", "b", "c", "été", "x" * 120])
TREE = st.dictionaries(
    st.lists(TREE_NAMES, min_size=1, max_size=3).map(tuple),
    st.one_of(st.binary(max_size=64), st.just(None), st.sampled_from(["->a", "->/b/c"])),
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREE, mode=st.sampled_from([0o644, 0o4755, 0o2711]))
def test_any_tree_round_trips(tmp_path_factory, tree, mode):
    tmp = tmp_path_factory.mktemp("rt")
    src = tmp / "src"
    src.mkdir()
    for parts, content in sorted(tree.items(), key=lambda i: len(i[0])):
        path = src.joinpath(*parts)
        if any(p.exists() and not p.is_dir() or p.is_symlink() for p in path.parents if src in p.parents):
            continue
        if os.path.lexists(path):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        elif isinstance(content, str):
            path.symlink_to(content[2:])
        else:
            path.write_bytes(content)
            os.chmod(path, mode)
    with Store(tmp / "store") as store:
        layer = write_layer(copy_changes([CopyItem(src, "/")]), store, compression="gzip")
    out = tmp / "out"
    unpack_layer(layer.path, layer.descriptor.media_type, out, expect_diff_id=layer.diff_id)
    assert tree_state(out) == tree_state(src)
