"""The blob store and extracted-layer cache: atomic, verified, shared safely, pruned safely."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from builder.errors import DigestMismatchError, StoreError
from builder.oci.models import Descriptor
from builder.store import Store, default_store_root
from builder.store.gc import prune
from tests.unit.fs.helpers import Entry, make_tar

LAYER = "application/vnd.oci.image.layer.v1.tar"


def desc_of(data: bytes, media_type: str = LAYER) -> Descriptor:
    return Descriptor(mediaType=media_type, digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data))


def test_ingest_verifies_and_leaves_nothing_on_mismatch(tmp_path):
    with Store(tmp_path) as store:
        good = desc_of(b"hello")
        path = store.blobs.ingest(iter([b"hel", b"lo"]), good)
        assert path.read_bytes() == b"hello" and store.blobs.has(good.digest)
        bad = desc_of(b"other")
        with pytest.raises(DigestMismatchError):
            store.blobs.ingest(iter([b"tampered"]), bad)
        assert not store.blobs.has(bad.digest)
        assert list(store.tmp_dir.iterdir()) == []
        with pytest.raises(StoreError):
            store.blobs.path(bad.digest)


@pytest.mark.timeout(60)
def test_a_leased_blob_can_be_ingested_again(tmp_path):
    with Store(tmp_path) as store:
        desc = desc_of(b"layer")
        leased = store.blobs.ingest(iter([b"layer"]), desc)
        assert store.blobs.ingest(iter([b"layer"]), desc) == leased


def test_writer_discards_unless_committed(tmp_path):
    with Store(tmp_path) as store:
        with store.blobs.writer() as w:
            w.write(b"abandoned")
        assert list(store.tmp_dir.iterdir()) == []
        assert list(store.blobs.dir.iterdir()) == []


def test_default_root_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "env"))
    assert default_store_root() == tmp_path / "env"
    assert default_store_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("MULTIARCH_CACHE_DIR")
    assert default_store_root() == Path.home() / ".cache" / "multiarch"


def _layer_in_store(store: Store) -> tuple[str, Path]:
    data = make_tar([Entry("etc", b"5", mode=0o755), Entry("etc/x", data=b"x"), Entry("etc/.wh.y")])
    path = store.blobs.ingest(iter([data]), desc_of(data))
    return "sha256:" + hashlib.sha256(data).hexdigest(), path


def test_layer_cache_extracts_once_for_concurrent_builds(tmp_path):
    with Store(tmp_path / "s") as store:
        diff_id, blob = _layer_in_store(store)
    log = tmp_path / "extractions"
    code = f"""
import builder.store.layers as l
from pathlib import Path
real = l.unpack_layer
def counting(*a, **k):
    with open({str(log)!r}, "a") as f: f.write("x\\n")
    return real(*a, **k)
l.unpack_layer = counting
from builder.store import Store
s = Store({str(tmp_path / 's')!r})
print(s.layers.get_or_extract({diff_id!r}, Path({str(blob)!r}), {LAYER!r}))
"""
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate()[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    assert log.read_text() == "x\n"
    layer = Path(outs[0])
    assert os.stat(layer / "etc/y").st_rdev == 0 and (layer / "etc/x").read_bytes() == b"x"
    assert list((tmp_path / "s" / "tmp").iterdir()) == []


def test_layer_cache_rejects_wrong_diff_id(tmp_path):
    with Store(tmp_path) as store:
        _, blob = _layer_in_store(store)
        with pytest.raises(DigestMismatchError):
            store.layers.get_or_extract("sha256:" + "0" * 64, blob, LAYER)
        assert list(store.tmp_dir.iterdir()) == []


def test_prune_never_removes_what_a_build_uses(tmp_path):
    user = Store(tmp_path)
    diff_id, blob = _layer_in_store(user)
    layer = user.layers.get_or_extract(diff_id, blob, LAYER)
    with Store(tmp_path) as janitor:
        report = prune(janitor, older_than=0)
        assert (report.removed_blobs, report.removed_layers, report.kept_in_use) == (0, 0, 2)
        assert layer.is_dir() and blob.is_file()
        user.close()
        report = prune(janitor, older_than=0)
        assert (report.removed_blobs, report.removed_layers) == (1, 1)
        assert not layer.exists() and not blob.exists()


def test_prune_clears_stale_temp_files_only(tmp_path):
    with Store(tmp_path) as store:
        stale, fresh = store.tmp_dir / "blob-stale", store.tmp_dir / "layer-fresh"
        stale.write_text("crashed")
        fresh.mkdir()
        os.utime(stale, (1, 1))
        prune(store, max_size=1 << 30)
    assert not stale.exists() and fresh.exists()


def test_prune_by_size_drops_least_recently_used_first(tmp_path):
    with Store(tmp_path) as store:
        old = store.blobs.ingest(iter([b"a" * 1000]), desc_of(b"a" * 1000))
        new = store.blobs.ingest(iter([b"b" * 1000]), desc_of(b"b" * 1000))
        os.utime(old, (1, 1))
    with Store(tmp_path) as janitor:
        report = prune(janitor, max_size=1500)
    assert report.removed_blobs == 1 and not old.exists() and new.exists()


def test_cache_prune_command(tmp_path):
    with Store(tmp_path) as store:
        store.blobs.ingest(iter([b"x" * 2048]), desc_of(b"x" * 2048))
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "multiarch.cli", "cache", "prune", "--cache-dir", str(tmp_path), *args],
        capture_output=True, text=True,
    )
    kept = run("--older-than", "7d")
    assert kept.returncode == 0 and "removed 0 blobs" in kept.stdout
    gone = run("--max-size", "1K")
    assert gone.returncode == 0 and "removed 1 blobs and 0 layers, freed 2.0 KiB" in gone.stdout
    bad = run("--older-than", "soon")
    assert bad.returncode == 2 and "invalid duration 'soon'" in bad.stderr


@contextmanager
def opened(chunks: list[bytes], seen: list[str] | None = None):
    if seen is not None:
        seen.append("opened")
    yield iter(chunks)


def test_reading_a_blob_the_store_has_opens_no_source(tmp_path):
    with Store(tmp_path) as store:
        desc = desc_of(b"stored")
        store.blobs.ingest(iter([b"stored"]), desc)
        seen: list[str] = []
        with store.blobs.reading(desc, lambda: opened([b"never"], seen)) as blob:
            assert blob.read() == b"stored"
        assert seen == []


def test_reading_stores_the_blob_while_it_is_read(tmp_path):
    data = os.urandom(3 << 20)
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    with Store(tmp_path) as store:
        desc = desc_of(data)
        with store.blobs.reading(desc, lambda: opened(chunks)) as blob:
            assert blob.peek(512)[:512] == data[:512]
            assert blob.read(100) == data[:100]
        # what the reader left unread is stored too
        assert store.blobs.path(desc.digest).read_bytes() == data
        assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("chunks", [[b"tamp", b"ered"], [b"hello", b"!"]], ids=["other", "longer"])
def test_reading_stores_nothing_unverified(tmp_path, chunks):
    with Store(tmp_path) as store:
        desc = desc_of(b"hello")
        with pytest.raises(DigestMismatchError):
            with store.blobs.reading(desc, lambda: opened(chunks)) as blob:
                blob.read()
        assert not store.blobs.has(desc.digest)
        assert list(store.tmp_dir.iterdir()) == []


def test_reading_stores_nothing_when_the_reader_fails(tmp_path):
    with Store(tmp_path) as store:
        desc = desc_of(b"hello")
        with pytest.raises(RuntimeError):
            with store.blobs.reading(desc, lambda: opened([b"hel", b"lo"])) as blob:
                blob.read(1)
                raise RuntimeError("the unpack failed")
        assert not store.blobs.has(desc.digest)
        assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.timeout(60)
def test_readers_of_a_stored_blob_do_not_wait_for_one_another(tmp_path):
    """Stages unpacking one base layer at once read it together (no write lock is held)."""
    with Store(tmp_path) as store:
        desc = desc_of(b"shared layer")
        store.blobs.ingest(iter([b"shared layer"]), desc)

        def read_again() -> bytes:
            with store.blobs.reading(desc, lambda: opened([b"never"])) as blob:
                return blob.read()

        with store.blobs.reading(desc, lambda: opened([b"never"])) as first:
            with ThreadPoolExecutor(max_workers=1) as pool:
                assert pool.submit(read_again).result(timeout=30) == b"shared layer"
            assert first.read() == b"shared layer"
