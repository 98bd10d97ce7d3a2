"""8 builds at once sharing one MULTIARCH_CACHE_DIR and one registry: all succeed with the
right content, no lock errors, and each digest equals the one built alone afterwards."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from builder.oci.models import Descriptor
from builder.store import Store
from builder.store.layers import LayerCache
from tests.fixtures.images import random_layer
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.reliability.helpers import (
    CLI,
    assert_complete,
    environ,
    leftovers,
    ok,
    run_cli,
    write_context,
)

BUILDS = 8


def args_for(context: Path, base: str, dest: str, digest_file: Path) -> list[str]:
    return ["executor", "--context", str(context), "--dockerfile", str(context / "Dockerfile"),
            "--build-arg", f"BASE={base}", "--build-arg", "N=0", "--destination", dest,
            "--insecure-registry", dest.split("/")[0], "--reproducible", "--digest-file", str(digest_file)]


def test_eight_builds_share_one_store_and_registry(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    store = tmp_path / "store"
    env = environ(MULTIARCH_CACHE_DIR=str(store))
    repo = unique_repo("concurrent")
    jobs = []
    for i in range(BUILDS):
        context = write_context(tmp_path / f"ctx{i}", f"ARG BASE\nFROM $BASE\nRUN echo build-{i} > /who && seq 1 {i + 1}000 > /n\n")
        jobs.append((context, f"{registry.host}/{repo}:b{i}", tmp_path / f"digest{i}"))
    with ThreadPoolExecutor(BUILDS) as pool:
        done = list(pool.map(lambda job: subprocess.run([*CLI, *args_for(job[0], busybox_image, job[1], job[2])],
                                                        check=False, capture_output=True, text=True, env=env,
                                                        timeout=120), jobs))
    for result in done:
        ok(result)
        assert "lock" not in result.stderr.lower(), result.stderr
    digests = [job[2].read_text() for job in jobs]
    assert len(set(digests)) == BUILDS
    for i, (_, _, digest_file) in enumerate(jobs):
        assert assert_complete(registry, repo, f"b{i}").digest == digests[i]
    # Build 3 again, alone, in a fresh store: the same image.
    context, _, _ = jobs[3]
    alone = tmp_path / "alone"
    ok(run_cli(*args_for(context, busybox_image, f"{registry.host}/{repo}:alone", alone),
               env=environ(MULTIARCH_CACHE_DIR=str(tmp_path / "store-alone"))))
    assert alone.read_text() == digests[3]
    assert leftovers(store) == []


def test_threads_sharing_a_layer_being_extracted_do_not_deadlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stages of one build need the same base layer: the second thread looked before the
    first had extracted it (made certain here by its first look answering "missing"); it
    must then use the layer, not wait for ever on the lease the first thread holds."""
    blob, diff_id = random_layer({"f": 100})
    with Store(tmp_path / "store") as store:
        desc = Descriptor.of_bytes(blob.data, blob.media_type)
        path = store.blobs.ingest([blob.data], desc)
        first = store.layers.get_or_extract(diff_id, path, desc.media_type)
        real_has, looks = LayerCache.has, []

        def stale_first_look(cache: LayerCache, wanted: str) -> bool:
            looks.append(wanted)
            return len(looks) > 1 and real_has(cache, wanted)

        monkeypatch.setattr(LayerCache, "has", stale_first_look)
        second: list[Path] = []
        thread = threading.Thread(
            target=lambda: second.append(store.layers.get_or_extract(diff_id, path, desc.media_type)),
            daemon=True,  # if it deadlocks, it must not keep the test run alive
        )
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the second thread waits for ever on the first one's lease"
        assert second == [first]
