"""A corpus of hostile layers: nothing may land outside the root, bad ones fail with LayerError."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import LayerError
from builder.fs.unpack import UnpackMode, unpack_layer
from tests.fixtures.unprivileged import NOBODY, call_as
from tests.unit.fs.helpers import Entry, make_tar, remove_deep, tree_state, write_blob

SYM, LNK, DIR, CHR = tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE


@pytest.fixture
def box(tmp_path: Path):
    """root/ to unpack into, next to sentinel/ that must never change."""
    root = tmp_path / "box" / "root"
    sentinel = tmp_path / "box" / "sentinel"
    root.mkdir(parents=True)
    sentinel.mkdir()
    (sentinel / "keep").write_text("untouched")
    (sentinel / "etc").mkdir()
    before = tree_state(tmp_path / "box", skip=("root",))
    yield root, sentinel
    assert tree_state(tmp_path / "box", skip=("root",)) == before
    assert sorted(os.listdir(tmp_path / "box")) == ["root", "sentinel"]


def unpack(tmp_path: Path, root: Path, entries: list[Entry], mode=UnpackMode.MERGED):
    desc = write_blob(tmp_path / "layer.tar", make_tar(entries))
    return unpack_layer(tmp_path / "layer.tar", desc.media_type, root, mode=mode)


def test_dotdot_is_rejected(tmp_path, box):
    root, _ = box
    with pytest.raises(LayerError, match=r"'\.\.'"):
        unpack(tmp_path, root, [Entry("../sentinel/pwned", data=b"x")])


def test_absolute_names_land_inside_the_root(tmp_path, box):
    root, sentinel = box
    unpack(tmp_path, root, [Entry(str(sentinel / "pwned"), data=b"x")])
    assert (root / str(sentinel).lstrip("/") / "pwned").read_bytes() == b"x"


@pytest.mark.parametrize("target", ["../sentinel", "../../../../sentinel", "ABS"])
def test_symlink_in_parent_is_followed_inside_the_root(tmp_path, box, target):
    root, sentinel = box
    target = str(sentinel) if target == "ABS" else target
    unpack(tmp_path, root, [Entry("link", SYM, linkname=target), Entry("link/pwned", data=b"x")])
    inside = root / ("sentinel" if not target.startswith("/") else str(sentinel).lstrip("/"))
    assert (inside / "pwned").read_bytes() == b"x"


def test_symlink_chain_and_whiteout_through_symlink_stay_inside(tmp_path, box):
    root, sentinel = box
    entries = [
        Entry("a", SYM, linkname="b/../.."),
        Entry("b", SYM, linkname=str(sentinel)),
        Entry("a/keep", data=b"overwrite?"),
        Entry("b/.wh.keep"),
        Entry("a/.wh..wh..opq"),
    ]
    unpack(tmp_path, root, entries)
    assert (root / "keep").exists() is False  # whited out inside the root, after being created there


def test_symlink_loop_is_an_error(tmp_path, box):
    root, _ = box
    with pytest.raises(LayerError, match="symlinks"):
        unpack(tmp_path, root, [Entry("a", SYM, linkname="b"), Entry("b", SYM, linkname="a"), Entry("a/x")])


def test_final_symlink_is_replaced_not_written_through(tmp_path, box):
    root, sentinel = box
    unpack(tmp_path, root, [Entry("s", SYM, linkname=str(sentinel / "keep")), Entry("s", data=b"new")])
    assert (root / "s").read_bytes() == b"new" and not (root / "s").is_symlink()


@pytest.mark.parametrize("linkname", ["/etc/shadow", "../../../etc/shadow", "up/etc/shadow"])
def test_hardlink_outside_the_root_is_rejected(tmp_path, box, linkname):
    root, _ = box
    shadow_links = os.stat("/etc/shadow").st_nlink
    entries = [Entry("up", SYM, linkname="../../../.."), Entry("x", LNK, linkname=linkname)]
    with pytest.raises(LayerError):
        unpack(tmp_path, root, entries)
    assert os.stat("/etc/shadow").st_nlink == shadow_links


def test_hardlink_resolves_inside_the_root(tmp_path, box):
    root, _ = box
    entries = [
        Entry("etc", DIR, mode=0o755),
        Entry("etc/shadow", data=b"inside", mode=0o640),
        Entry("x", LNK, linkname="/etc/shadow"),
        Entry("x", data=b"replaced"),  # must replace the link, not write into etc/shadow
    ]
    unpack(tmp_path, root, entries)
    assert (root / "etc/shadow").read_bytes() == b"inside"
    assert (root / "x").read_bytes() == b"replaced"


def test_ten_thousand_deep_path_is_rejected(tmp_path, box):
    root, _ = box
    deep = "/".join(["d"] * 10_000) + "/f"
    with pytest.raises(LayerError, match="longer than"):
        unpack(tmp_path, root, [Entry(deep, data=b"x")])


def test_deep_symlink_recursion_is_bounded(tmp_path, box):
    root, _ = box
    chain = "/".join(["d"] * 2000)
    entries = [Entry(chain, DIR)] + [
        Entry(f"l{i}", SYM, linkname=f"{chain}/{'../' * 0}") for i in range(1)
    ] + [Entry("l0/" + "/".join(["e"] * 100) + "/f", data=b"x")]
    with pytest.raises(LayerError, match="deeper"):
        unpack(tmp_path, root, entries)
    remove_deep(root / "d")


def test_duplicate_entries_last_wins(tmp_path, box):
    root, _ = box
    entries = [
        Entry("f", data=b"one"),
        Entry("f", data=b"two", mode=0o600),
        Entry("d", DIR, mode=0o700),
        Entry("d/child", data=b"c"),
        Entry("d", DIR, mode=0o755),  # a directory entry again merges, keeping its contents
        Entry("x", DIR),
        Entry("x", SYM, linkname="f"),
        Entry("y", SYM, linkname="f"),
        Entry("y", DIR, mode=0o711),
    ]
    unpack(tmp_path, root, entries)
    assert (root / "f").read_bytes() == b"two" and (root / "f").stat().st_mode & 0o777 == 0o600
    assert (root / "d/child").exists() and (root / "d").stat().st_mode & 0o777 == 0o755
    assert os.readlink(root / "x") == "f"
    assert (root / "y").is_dir() and not (root / "y").is_symlink()


def test_parent_that_is_a_file_is_an_error(tmp_path, box):
    root, _ = box
    with pytest.raises(LayerError, match="not a directory"):
        unpack(tmp_path, root, [Entry("f", data=b"x"), Entry("f/g", data=b"y")])


def test_malformed_whiteouts_are_rejected(tmp_path, box):
    root, _ = box
    with pytest.raises(LayerError):
        unpack(tmp_path, root, [Entry("a/.wh..")])


def test_media_type_must_match_magic(tmp_path):
    desc = write_blob(tmp_path / "l", make_tar([Entry("f")]))
    with pytest.raises(LayerError, match="says gzip"):
        unpack_layer(tmp_path / "l", "application/vnd.oci.image.layer.v1.tar+gzip", tmp_path / "r")
    (tmp_path / "g").write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(LayerError):
        unpack_layer(tmp_path / "g", "application/vnd.oci.image.layer.v1.tar+gzip", tmp_path / "r2")
    assert desc.size > 0


def test_trusted_overlay_xattrs_from_the_tar_are_dropped(tmp_path, box):
    root, _ = box
    unpack(
        tmp_path, root,
        [Entry("d", DIR, xattrs={"trusted.overlay.redirect": b"/etc", "user.ok": b"1"})],
        mode=UnpackMode.OVERLAY_LOWER,
    )
    assert os.listxattr(root / "d") == ["user.ok"]


@pytest.fixture
def world_readable_dir():
    path = Path(tempfile.mkdtemp(prefix="fs-test-", dir="/dev/shm"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_device_nodes_as_non_root_are_skipped(world_readable_dir):
    tmp_path = world_readable_dir
    root = tmp_path / "root"
    root.mkdir()
    os.chown(root, NOBODY, NOBODY)
    desc = write_blob(tmp_path / "layer.tar", make_tar([
        Entry("dev", DIR, mode=0o755),
        Entry("dev/sda", CHR, devmajor=8, devminor=0),
        Entry("dev/null", tarfile.BLKTYPE, devmajor=1, devminor=3),
        Entry("dev/fifo", tarfile.FIFOTYPE),
        Entry("file", data=b"x", uid=0, mode=0o4755),
    ]))
    call_as(NOBODY, NOBODY, lambda: unpack_layer(tmp_path / "layer.tar", desc.media_type, root))
    assert sorted(os.listdir(root / "dev")) == ["fifo"]
    assert (root / "file").stat().st_uid == NOBODY


NAMES = st.sampled_from(["a", "b", "..", ".", "", "/", "etc", ".wh.a", ".wh..wh..opq", "sentinel"])
PATHS = st.lists(NAMES, min_size=1, max_size=5).map("/".join)
ENTRIES = st.lists(
    st.builds(
        Entry,
        name=PATHS,
        type=st.sampled_from([tarfile.REGTYPE, DIR, SYM, LNK]),
        data=st.just(b"x"),
        linkname=st.one_of(PATHS, PATHS.map(lambda p: "/" + p), st.just("SENTINEL")),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=ENTRIES, mode=st.sampled_from(list(UnpackMode)))
def test_random_layers_never_escape(tmp_path_factory, entries, mode):
    tmp = tmp_path_factory.mktemp("hyp")
    root = tmp / "box" / "root"
    sentinel = tmp / "box" / "sentinel"
    root.mkdir(parents=True)
    sentinel.mkdir()
    (sentinel / "a").write_text("keep")
    for e in entries:
        if e.linkname == "SENTINEL":
            e.linkname = str(sentinel)
    before = tree_state(tmp / "box", skip=("root",))
    desc = write_blob(tmp / "layer.tar", make_tar(entries))
    try:
        unpack_layer(tmp / "layer.tar", desc.media_type, root, mode=mode)
    except LayerError:
        pass
    assert tree_state(tmp / "box", skip=("root",)) == before
    assert sorted(os.listdir(tmp / "box")) == ["root", "sentinel"]
