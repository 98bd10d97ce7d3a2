"""Overlay and walk snapshotters on real overlay mounts: round trips, agreement, stubs, umoci."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from builder.fs.changes import DEFAULT_IGNORES, ChangeKind
from builder.fs.layer import write_layer
from builder.fs.overlay import OverlaySnapshot
from builder.fs.unpack import UnpackMode, unpack_layer
from builder.fs.walk import WalkSnapshot
from builder.oci.models import Descriptor, ImageManifest
from tests.integration.fs.conftest import typical_step
from tests.unit.fs.helpers import tree_state

EXPECTED = [
    ("d", ChangeKind.OPAQUE), ("d/new", ChangeKind.ADD),
    ("etc", ChangeKind.ADD), ("etc/a", ChangeKind.ADD), ("etc/b", ChangeKind.DELETE),
    ("gone_dir", ChangeKind.DELETE), ("link", ChangeKind.ADD),
    ("new", ChangeKind.ADD), ("new/deep", ChangeKind.ADD), ("new/deep/f", ChangeKind.ADD),
    ("new/hard", ChangeKind.ADD), ("owned", ChangeKind.ADD),
    ("usr", ChangeKind.ADD), ("usr/bin", ChangeKind.ADD), ("usr/bin/tool", ChangeKind.ADD),
]


def overlay_step(shm: Path, lowers: list[Path], overlays: list, name: str = "step") -> OverlaySnapshot:
    snap = OverlaySnapshot(lowers, shm / name)
    overlays.append(snap)
    typical_step(snap.mount())
    return snap


def kinds(changes) -> list[tuple[str, ChangeKind]]:
    return [(c.path, c.kind) for c in changes]


def test_overlay_changes_are_exactly_the_step(shm, store, base_layer, overlays):
    snap = overlay_step(shm, [base_layer[1]], overlays)
    assert kinds(snap.changes()) == EXPECTED


def test_round_trip_merged_and_as_overlay_lowers(shm, store, base_layer, overlays):
    base, base_dir = base_layer
    snap = overlay_step(shm, [base_dir], overlays)
    want = tree_state(snap.merged, skip=("dev",))
    layer = write_layer(snap.changes(), store, compression="zstd")

    flat = shm / "flat"
    unpack_layer(base.path, base.descriptor.media_type, flat)
    unpack_layer(layer.path, layer.descriptor.media_type, flat, expect_diff_id=layer.diff_id)
    assert tree_state(flat, skip=("dev",)) == want

    step_dir = store.layers.get_or_extract(layer.diff_id, layer.path, layer.descriptor.media_type)
    stacked = OverlaySnapshot([step_dir, base_dir], shm / "stacked")
    overlays.append(stacked)
    assert tree_state(stacked.mount(), skip=("dev",)) == want
    assert kinds(stacked.changes()) == []


def test_overlay_and_walk_agree(shm, store, base_layer, overlays):
    base, base_dir = base_layer
    walk_root = shm / "walkroot"
    unpack_layer(base.path, base.descriptor.media_type, walk_root)
    for full, watch in itertools.product((False, True), (False, True)):
        root = shm / f"walk-{full}-{watch}"
        shutil.copytree(walk_root, root, symlinks=True)
        walk = WalkSnapshot(root, full=full, watch=watch)
        typical_step(root)
        walk_changes = walk.changes()
        assert kinds(walk_changes) == EXPECTED
        assert walk.changes() == []  # the index moved on to the new state
        walk.close()
    snap = overlay_step(shm, [base_dir], overlays)
    overlay_changes = snap.changes()
    assert kinds(overlay_changes) == kinds(walk_changes)
    a = write_layer(overlay_changes, store, compression="none", source_date_epoch=0)
    b = write_layer(walk_changes, store, compression="none", source_date_epoch=0)
    assert a.diff_id == b.diff_id


def test_walk_full_mode_sees_content_changes_hidden_from_metadata(shm):
    root = shm / "r"
    root.mkdir()
    (root / "f").write_text("aaaa")
    st = os.stat(root / "f")
    full, quick = WalkSnapshot(root, full=True), WalkSnapshot(root)
    (root / "f").write_text("bbbb")
    os.utime(root / "f", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert kinds(full.changes()) == [("f", ChangeKind.ADD)]
    # the quick walk notices too: a write always moves ctime, which no one can set back
    assert kinds(quick.changes()) == [("f", ChangeKind.ADD)]


def test_walk_full_mode_hashes_only_what_metadata_cannot_vouch_for(shm, monkeypatch):
    """Files whose ctime is older than the scan are proved unchanged by it; only those
    written around a scan are hashed (a base image's files are not, step after step)."""
    from builder.fs import walk

    root = shm / "r"
    (root / "base").mkdir(parents=True)
    for i in range(20):
        (root / "base" / f"f{i}").write_text(f"base {i}")
    hashed: list[str] = []
    real_digest = walk._content_digest
    monkeypatch.setattr(walk, "_content_digest", lambda p: hashed.append(p) or real_digest(p))
    fresh = WalkSnapshot(root, full=True)  # the files were just written: all hashed
    assert len(hashed) == 20
    hashed.clear()
    later = walk.time.time_ns() + 10 * walk.RECENT_NS
    monkeypatch.setattr(walk.time, "time_ns", lambda: later)  # every file is old by then
    snapshot = WalkSnapshot(root, full=True)
    assert hashed == []
    (root / "base" / "f3").write_text("changed")
    assert kinds(snapshot.changes()) == [("base", ChangeKind.ADD), ("base/f3", ChangeKind.ADD)]
    assert hashed == []  # f3's ctime moved: no need to read it
    # files hashed at a scan are compared by content at the next one
    assert kinds(fresh.changes()) == [("base", ChangeKind.ADD), ("base/f3", ChangeKind.ADD)]
    assert len(hashed) == 20


@pytest.fixture
def whole_seconds_fs(tmp_path: Path):
    """An ext4 filesystem with 128-byte inodes, whose timestamps keep whole seconds."""
    image, mountpoint = tmp_path / "ext4.img", tmp_path / "mnt"
    mountpoint.mkdir()
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-I", "128", str(image)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True,
                   capture_output=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_walk_full_mode_on_whole_second_timestamps(whole_seconds_fs, monkeypatch):
    """There a same-size rewrite within the second leaves size, mtime (set back) and ctime
    as they were: only the content tells, so files of the last 2 s are hashed."""
    from builder.fs import walk

    root = whole_seconds_fs
    (root / "f").write_text("aaaa")
    st = os.stat(root / "f")
    soon = walk.time.time_ns() + 10 * walk.RECENT_NS  # past the fine margin, within 2 s
    monkeypatch.setattr(walk.time, "time_ns", lambda: soon)
    snapshot = WalkSnapshot(root, full=True)
    assert snapshot.recent_ns == walk.COARSE_RECENT_NS
    (root / "f").write_text("bbbb")
    os.utime(root / "f", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ("f", ChangeKind.ADD) in kinds(snapshot.changes())


def sandbox_like_stubs(root: Path, files: list[str], dirs: list[str]):
    """What the sandbox does for mountpoints the image lacks: create them (and missing parents),
    remembering the mtime of each existing parent; returns the undo."""
    created: list[Path] = []
    parents: dict[Path, int] = {}
    for rel, is_dir in [(f, False) for f in files] + [(d, True) for d in dirs]:
        path = root / rel
        missing = [p for p in [path, *path.parents] if not os.path.lexists(p)]
        for p in reversed(missing):
            parents.setdefault(p.parent, os.stat(p.parent).st_mtime_ns)
            p.mkdir() if (p != path or is_dir) else p.touch()
            created.append(p)

    def undo() -> None:
        for p in reversed(created):
            p.rmdir() if p.is_dir() else p.unlink()
        for parent, mtime in parents.items():
            if parent.exists():
                os.utime(parent, ns=(mtime, mtime))

    return undo


@pytest.mark.parametrize("snapshotter", ["overlay", "walk"])
def test_mount_stubs_leave_no_trace(shm, store, base_layer, overlays, snapshotter):
    base, base_dir = base_layer
    targets = ["/etc/resolv.conf", "/run/secrets/token", "/root/.cache/pip"]
    ignore = DEFAULT_IGNORES + tuple(targets)
    if snapshotter == "overlay":
        snap = OverlaySnapshot([base_dir], shm / "step")
        overlays.append(snap)
        root = snap.mount()
    else:
        root = shm / "walkroot"
        unpack_layer(base.path, base.descriptor.media_type, root)
        snap = WalkSnapshot(root, ignore)
    remove_stubs = sandbox_like_stubs(root, ["etc/resolv.conf", "run/secrets/token"], ["root/.cache/pip"])
    host = shm / "resolv.conf"
    host.write_text("nameserver 127.0.0.1\n")
    subprocess.run(["mount", "--bind", host, root / "etc/resolv.conf"], check=True)
    try:
        (root / "etc/resolv.conf").write_text("nameserver 10.0.0.1\n")  # the step writes the mount
    finally:
        subprocess.run(["umount", root / "etc/resolv.conf"], check=True)
    (root / "etc/passwd").write_text("changed\n")  # and really changes one file
    remove_stubs()
    assert kinds(snap.changes(ignore) if snapshotter == "overlay" else snap.changes()) == [
        ("etc", ChangeKind.ADD), ("etc/passwd", ChangeKind.ADD),
    ]


def test_umoci_unpacks_our_layers_to_the_same_tree(shm, store, base_layer, overlays):
    base, base_dir = base_layer
    snap = overlay_step(shm, [base_dir], overlays)
    want = tree_state(snap.merged, skip=("dev",), mtimes=False)
    layer = write_layer(snap.changes(), store, compression="gzip")
    layout = shm / "layout"
    (layout / "blobs/sha256").mkdir(parents=True)
    for result in (base, layer):
        shutil.copy(result.path, layout / "blobs/sha256" / result.descriptor.digest.split(":")[1])
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [base.diff_id, layer.diff_id]},
    }).encode()
    config_desc = Descriptor.of_bytes(config, "application/vnd.oci.image.config.v1+json")
    manifest = ImageManifest(config=config_desc, layers=[base.descriptor, layer.descriptor]).to_json()
    manifest_desc = Descriptor.of_bytes(
        manifest, "application/vnd.oci.image.manifest.v1+json", annotations={"org.opencontainers.image.ref.name": "t"}
    )
    for data, desc in ((config, config_desc), (manifest, manifest_desc)):
        (layout / "blobs/sha256" / desc.digest.split(":")[1]).write_bytes(data)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [manifest_desc.to_dict()]}))
    bundle = shm / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:t", bundle], check=True, capture_output=True)
    assert tree_state(bundle / "rootfs", skip=("dev",), mtimes=False) == want


def test_overlay_lower_mode_converts_whiteouts(shm, store, base_layer, overlays):
    snap = overlay_step(shm, [base_layer[1]], overlays)
    layer = write_layer(snap.changes(), store, compression="none")
    lower = shm / "lower"
    unpack_layer(layer.path, layer.descriptor.media_type, lower, mode=UnpackMode.OVERLAY_LOWER)
    assert os.stat(lower / "etc/b").st_rdev == 0 and os.path.isfile(lower / "etc/a")
    assert os.getxattr(lower / "d", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(lower / "usr/bin/tool", "security.capability").startswith(b"\x01")
    assert os.stat(lower / "usr/bin/tool").st_mode & 0o7777 == 0o4755


def test_copied_up_dirs_are_compared_with_what_the_lowers_really_show(shm, overlays):
    bottom, middle = shm / "bottom", shm / "middle"
    (bottom / "a/b").mkdir(parents=True)
    (bottom / "o/p").mkdir(parents=True)
    (middle / "o").mkdir(parents=True)
    os.setxattr(middle / "o", "trusted.overlay.opaque", b"y")  # hides bottom's o/p
    os.mknod(middle / "a", 0o600 | 0o020000, os.makedev(0, 0))  # whiteout: hides bottom's a
    for d in ("a", "a/b", "o/p"):
        os.utime(bottom / d, ns=(10**18, 10**18))
    snap = OverlaySnapshot([middle, bottom], shm / "step")
    overlays.append(snap)
    snap.mount()
    assert snap._in_lowers("a/b") is None and snap._in_lowers("o/p") is None
    assert snap._in_lowers("o")[0] == middle


def _step_root(snapshotter: str, shm: Path, base_layer, overlays) -> tuple[Path, object]:
    base, base_dir = base_layer
    if snapshotter == "overlay":
        snap = OverlaySnapshot([base_dir], shm / "step")
        overlays.append(snap)
        return snap.mount(), snap
    root = shm / "walkroot"
    unpack_layer(base.path, base.descriptor.media_type, root)
    return root, WalkSnapshot(root)


@pytest.mark.parametrize("snapshotter", ["overlay", "walk"])
def test_a_new_hard_link_to_a_lower_file_does_not_re_emit_it(shm, store, base_layer, overlays,
                                                             snapshotter):
    # BuildKit (util/overlay sameDirent) and buildah: the lower file's new link count and ctime
    # are no change; the layer holds the new name alone, as a regular file.
    root, snap = _step_root(snapshotter, shm, base_layer, overlays)
    os.link(root / "usr/bin/tool", root / "hard")
    with open(root / "etc/a", "r+b"):  # opened for writing, left alone: copied up, unchanged
        pass
    size, mtime = os.stat(root / "etc/b").st_size, os.stat(root / "etc/b").st_mtime_ns
    (root / "etc/b").write_text("B")  # same size, mtime put back: still a change
    os.utime(root / "etc/b", ns=(mtime, mtime))
    assert size == 1
    changes = snap.changes()  # type: ignore[attr-defined]
    assert kinds(changes) == [("etc", ChangeKind.ADD), ("etc/b", ChangeKind.ADD),
                              ("hard", ChangeKind.ADD)]
    layer = write_layer(changes, store, compression="none")
    with tarfile.open(layer.path) as tar:
        assert tar.getmember("hard").isreg() and tar.getmember("hard").size == 4
