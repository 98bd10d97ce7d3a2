"""Fixtures for the fs integration tests: tmpfs scratch space, a base layer, overlay mounts
that are always unmounted."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.fs.layer import CopyItem, copy_changes, write_layer
from builder.fs.overlay import OverlaySnapshot, overlay_available
from builder.store import Store

CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")


@pytest.fixture
def shm() -> Iterator[Path]:
    """A scratch dir on tmpfs: steady inode numbers and speed, like the real build storage."""
    path = Path(tempfile.mkdtemp(prefix="fs-it-", dir="/dev/shm"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def store(shm: Path) -> Iterator[Store]:
    with Store(shm / "store") as s:
        yield s


@pytest.fixture
def overlays(shm: Path) -> Iterator[list[OverlaySnapshot]]:
    """Register every OverlaySnapshot here; all are unmounted at the end, whatever happens."""
    if os.geteuid() != 0 or not overlay_available(shm):
        pytest.skip("overlayfs cannot be mounted here")
    mounted: list[OverlaySnapshot] = []
    yield mounted
    for snap in mounted:
        snap.unmount()


def build_base_tree(root: Path) -> None:
    for d in ("etc", "usr/bin", "d/x", "gone_dir/sub", "root", "dev"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/a").write_text("a")
    (root / "etc/b").write_text("b")
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "d/x/f").write_text("f")
    (root / "d/keep").write_text("k")
    (root / "gone_dir/sub/f").write_text("g")
    (root / "usr/bin/tool").write_bytes(b"\x7fELF")
    os.chmod(root / "usr/bin/tool", 0o755)
    (root / "owned").write_text("o")
    os.symlink("usr/bin", root / "bin")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (1_500_000_000, 1_500_000_000), follow_symlinks=False)


@pytest.fixture
def base_layer(shm: Path, store: Store):
    """(LayerResult, extracted lower dir) of a small base image layer."""
    src = shm / "base-src"
    src.mkdir()
    build_base_tree(src)
    layer = write_layer(copy_changes([CopyItem(src, "/")]), store, compression="gzip")
    lower = store.layers.get_or_extract(layer.diff_id, layer.path, layer.descriptor.media_type)
    return layer, lower


def typical_step(root: Path) -> None:
    """What a RUN step does: modify, delete, replace a dir, chmod, xattr, link, chown."""
    (root / "etc/a").write_text("changed")
    os.unlink(root / "etc/b")
    shutil.rmtree(root / "d")
    (root / "d").mkdir()
    (root / "d/new").write_text("n")
    os.chmod(root / "usr/bin/tool", 0o4755)
    os.setxattr(root / "usr/bin/tool", "security.capability", CAP_NET_RAW)
    os.symlink("/etc/a", root / "link")
    (root / "new/deep").mkdir(parents=True)
    (root / "new/deep/f").write_text("f")
    os.link(root / "new/deep/f", root / "new/hard")
    shutil.rmtree(root / "gone_dir")
    os.chown(root / "owned", 1234, 5678)
    (root / "dev/ignored").write_text("never captured")
