"""A layer the store lacks is unpacked while it downloads: by the walk snapshotters (the later
layers downloading meanwhile) and into the extracted-layer cache (overlay builds); the store
keeps each blob, verified. A source that waits for the unpack to have begun proves the
overlap: fetching first and unpacking after would never reach that point (the wait times out
and the download fails)."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from builder.errors import DigestMismatchError
from builder.executor.snapshot import LayerOptions, WalkSnapshotter
from builder.fs.rootfs import Layer, Rootfs
from builder.oci.models import Descriptor
from builder.store import Store
from tests.fixtures.waiting import wait_for
from tests.unit.fs.helpers import Entry, make_tar

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"
CHUNK = 64 << 10


def layer_of(entries: list[Entry], media_type: str = GZIP_LAYER) -> tuple[Layer, bytes]:
    tar = make_tar(entries)
    blob = gzip.compress(tar, compresslevel=1) if media_type == GZIP_LAYER else tar
    desc = Descriptor(mediaType=media_type, digest="sha256:" + hashlib.sha256(blob).hexdigest(),
                      size=len(blob))  # fmt: skip
    return Layer(desc, "sha256:" + hashlib.sha256(tar).hexdigest(), None), blob


def source(blobs: dict[str, bytes], pause: dict[str, tuple[int, Callable[[], object], str]]):
    """A layer source serving `blobs` in chunks; before the byte offset `pause[digest]` names,
    it waits for that condition (at most 30 s)."""

    @contextmanager
    def open_layer(desc: Descriptor) -> Iterator[Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            data = blobs[desc.digest]
            for offset in range(0, len(data), CHUNK):
                if desc.digest in pause and offset == pause[desc.digest][0]:
                    _, condition, what = pause[desc.digest]
                    wait_for(condition, timeout=30, what=what)
                yield data[offset:offset + CHUNK]

        yield chunks()

    return open_layer


@pytest.fixture
def snapshotter(tmp_path: Path) -> Iterator[WalkSnapshotter]:
    with Store(tmp_path / "store") as store:
        yield WalkSnapshotter(tmp_path / "scratch", store, LayerOptions())


def test_a_layer_unpacks_while_it_downloads(snapshotter: WalkSnapshotter) -> None:
    big = os.urandom(4 << 20)  # incompressible: the blob is as big, the first file at its head
    layer, blob = layer_of([Entry("first", data=b"at the head"), Entry("big", data=big)])
    unpacked = lambda: any(snapshotter.scratch.glob("root-*/first"))  # noqa: E731
    snapshotter.layer_source = source(
        {layer.descriptor.digest: blob}, {layer.descriptor.digest: (32 * CHUNK, unpacked, "the first file")}
    )
    root = snapshotter.view(Rootfs((layer,)))
    assert (root / "first").read_bytes() == b"at the head"
    assert (root / "big").read_bytes() == big
    assert snapshotter.store.blobs.path(layer.descriptor.digest).read_bytes() == blob


def test_the_layer_cache_extracts_while_the_blob_downloads(tmp_path: Path) -> None:
    big = os.urandom(4 << 20)
    layer, blob = layer_of([Entry("first", data=b"at the head"), Entry("big", data=big)])
    desc = layer.descriptor
    with Store(tmp_path / "store") as store:
        extracting = lambda: any(store.tmp_dir.glob("layer-*/first"))  # noqa: E731
        open_layer = source({desc.digest: blob}, {desc.digest: (32 * CHUNK, extracting, "the first file")})
        with store.blobs.reading(desc, lambda: open_layer(desc)) as arriving:
            directory = store.layers.get_or_extract(layer.diff_id, arriving, desc.media_type)
        assert (directory / "big").read_bytes() == big
        assert store.blobs.path(desc.digest).read_bytes() == blob


def test_later_layers_download_while_the_first_unpacks(snapshotter: WalkSnapshotter) -> None:
    first, first_blob = layer_of([Entry("a", data=os.urandom(1 << 20))])
    second, second_blob = layer_of([Entry("b", data=b"second")])
    third, third_blob = layer_of([Entry("a", data=b"replaced"), Entry("c", data=b"third")])
    stored = lambda: all(snapshotter.store.blobs.has(l.descriptor.digest) for l in (second, third))  # noqa: E731
    snapshotter.layer_source = source(
        {first.descriptor.digest: first_blob, second.descriptor.digest: second_blob,
         third.descriptor.digest: third_blob},
        {first.descriptor.digest: (CHUNK, stored, "the later layers in the store")},
    )  # fmt: skip
    root = snapshotter.view(Rootfs((first, second, third)))
    assert {p.name: p.read_bytes() for p in root.iterdir()} == {
        "a": b"replaced", "b": b"second", "c": b"third"}


def test_a_tampered_download_is_not_kept(snapshotter: WalkSnapshotter) -> None:
    layer, _ = layer_of([Entry("file", data=b"genuine!")], TAR_LAYER)
    _, other = layer_of([Entry("file", data=b"tampered")], TAR_LAYER)  # as long: only the digest tells
    snapshotter.layer_source = source({layer.descriptor.digest: other}, {})
    with pytest.raises(DigestMismatchError):
        snapshotter.view(Rootfs((layer,)))
    assert not snapshotter.store.blobs.has(layer.descriptor.digest)
