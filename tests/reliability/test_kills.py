"""SIGKILL the builder at seeded points (after N bytes went through a proxy in front of the
registry), then rerun: the rerun succeeds with the fault-free digest and reuses complete
blobs; no temp files or mounts are left; the registry never holds a tag for an incomplete
image or index; the store never holds a blob that does not match its digest.
SIGTERM / SIGINT: the build stops promptly, non-zero, with a message, and cleans up."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest

from builder.errors import NotFoundError
from builder.registry import RegistryClient
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.waiting import wait_for
from tests.reliability.helpers import (
    CLI,
    assert_complete,
    environ,
    leftovers,
    mounts_under,
    ok,
    run_cli,
    write_context,
)

SEED = 9
BUILD = """ARG BASE
FROM $BASE
RUN mkdir -p /data && seq 1 30000 > /data/numbers && echo done > /done
"""


def kill_points(total: int, count: int) -> list[int]:
    rng = random.Random(SEED)
    return sorted(rng.randrange(total // 20, total) for _ in range(count))


def run_killed(args: list[str], proxy, after_bytes: int, env: dict[str, str]) -> int:
    """Run the CLI; SIGKILL it when `after_bytes` more bytes went through `proxy`."""
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proxy.on_bytes(after_bytes, lambda: proc.send_signal(signal.SIGKILL))
    proc.communicate(timeout=120)
    return proc.returncode


def tag_is_absent_or_complete(registry: RegistryHandle, repo: str, tag: str) -> None:
    try:
        assert_complete(registry, repo, tag)
    except NotFoundError:
        pass


def image_blobs(registry: RegistryHandle, repo: str, tag: str) -> list:
    manifest = assert_complete(registry, repo, tag).manifest()
    return [manifest.config, *manifest.layers]


def store_blobs_verify(store: Path) -> int:
    """Every blob the store would serve matches its name; returns how many there are."""
    blobs = list((store / "blobs" / "sha256").glob("*")) if (store / "blobs").exists() else []
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, f"truncated blob served: {blob}"
    return len(blobs)


def layout_temp_files(layout: Path) -> list[str]:
    """Temp files of the layout writer (blobs/sha256 and the root), named `.tmp-*`."""
    places = (layout, layout / "blobs" / "sha256")
    return sorted(str(p) for place in places if place.is_dir() for p in place.glob(".tmp-*"))


def layout_blobs_verify(layout: Path) -> None:
    """Every blob named by a digest matches it (temp files of a killed writer aside)."""
    for blob in (layout / "blobs" / "sha256").glob("[0-9a-f]*") if layout.exists() else ():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, f"bad blob in layout: {blob}"


def executor_args(context: Path, base: str, destination: str) -> list[str]:
    hosts = {base.split("/")[0], destination.split("/")[0]}
    return ["executor", "--context", str(context), "--dockerfile", str(context / "Dockerfile"),
            "--build-arg", f"BASE={base}", "--destination", destination, "--reproducible",
            *[arg for host in sorted(hosts) for arg in ("--insecure-registry", host)]]


def test_build_killed_at_seeded_points_reruns_clean(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, fault_proxy, fast_retry_env
) -> None:
    context = write_context(tmp_path / "ctx", BUILD)
    proxy, via = fault_proxy(registry)
    base = busybox_image.replace(registry.host, via.host)
    clean_store, clean_repo = tmp_path / "clean-store", unique_repo("kill-build")
    ok(run_cli(*executor_args(context, base, f"{via.host}/{clean_repo}:clean"),
               "--digest-file", str(tmp_path / "clean"),
               env=environ(**fast_retry_env, MULTIARCH_CACHE_DIR=str(clean_store))))
    total = proxy.stats.bytes
    blobs = [d.digest for d in image_blobs(registry, clean_repo, "clean")]
    killed = 0
    for i, point in enumerate(kill_points(total, 2)):
        # A fresh repository and store each time, so the killed run moves as many bytes.
        store, tag, repo = tmp_path / f"store-{i}", f"k{i}", unique_repo("kill-build")
        env = environ(**fast_retry_env, MULTIARCH_CACHE_DIR=str(store))
        args = executor_args(context, base, f"{via.host}/{repo}:{tag}")
        code = run_killed(args, proxy, point, env)
        assert code in (0, -signal.SIGKILL), f"kill point {point}/{total}: exit {code}"
        killed += code == -signal.SIGKILL
        tag_is_absent_or_complete(registry, repo, tag)
        store_blobs_verify(store)
        with RegistryClient(registry.options()) as client:
            lacking = [d for d in blobs if not client.has_blob(registry.ref(repo), d)]
        uploads_before = proxy.stats.count("PUT", "/v2/-/blobs/uploads/")
        ok(run_cli(*args, "--digest-file", str(tmp_path / tag), env=env))
        assert (tmp_path / tag).read_text() == (tmp_path / "clean").read_text()
        assert_complete(registry, repo, tag)
        # Blobs the killed run completed in the registry are not sent again.
        assert proxy.stats.count("PUT", "/v2/-/blobs/uploads/") - uploads_before <= len(lacking)
        assert store_blobs_verify(store) > 0
        assert mounts_under(store) == [] and mounts_under(tmp_path) == []
        assert leftovers(store) == [], f"kill point {point}/{total}"
    assert killed >= 1, "the seeded points should fall inside the build"


def test_copy_killed_mid_upload_and_mid_download(
    tmp_path: Path, registry: RegistryHandle, busybox_layout: Path, fault_proxy, fast_retry_env
) -> None:
    proxy, via = fault_proxy(registry)
    repo = unique_repo("kill-copy")
    src = f"oci:{busybox_layout}:latest"
    plain = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    ok(run_cli("copy", "--all", *plain, src, f"docker://{via.host}/{repo}:clean", env=fast_retry_env))
    total = proxy.stats.bytes
    killed_temps: list[str] = []
    for i, point in enumerate(kill_points(total, 2)):
        dst = f"docker://{via.host}/{repo}:up{i}"
        run_killed(["copy", "--all", *plain, src, dst], proxy, point, fast_retry_env)
        tag_is_absent_or_complete(registry, repo, f"up{i}")
        ok(run_cli("copy", "--all", *plain, src, dst, env=fast_retry_env))
        assert_complete(registry, repo, f"up{i}")
        layout = tmp_path / f"down{i}"
        down = ["copy", "--all", *plain, f"docker://{via.host}/{repo}:clean", f"oci:{layout}:v1"]
        run_killed(down, proxy, point, fast_retry_env)
        layout_blobs_verify(layout)
        killed_temps += layout_temp_files(layout)
        ok(run_cli(*down, env=fast_retry_env))
        layout_blobs_verify(layout)
        assert layout_temp_files(layout) == [], "the rerun should remove the killed writer's temp files"
        index = json.loads((layout / "index.json").read_text())
        assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == ["v1"]
    assert killed_temps, "a seeded kill should fall inside a blob write (else the cleanup is untested)"


def test_layout_writer_removes_only_dead_writers_temp_files(tmp_path: Path) -> None:
    from builder.transports.layout import LayoutDestination

    layout = tmp_path / "layout"
    live = LayoutDestination(layout, "v1")
    blobs = layout / "blobs" / "sha256"
    temp = blobs / (".tmp-" + "ab" * 8 + "x1y2z3_q")
    foreign = [blobs / ".tmp-notours", layout / "oci-put-blob123", blobs / ("ab" * 32)]
    for path in (temp, *foreign):
        path.write_bytes(b"partial")
    LayoutDestination(layout, "v2").close()
    assert temp.exists(), "a temp file of a live writer must stay"
    live.close()
    LayoutDestination(layout, "v3").close()
    assert not temp.exists()
    assert all(path.exists() for path in foreign)


def test_index_push_killed_never_publishes_a_dangling_index(
    registry: RegistryHandle, busybox_children: str, fault_proxy, fast_retry_env
) -> None:
    children = busybox_children
    proxy, via = fault_proxy(registry)
    target = unique_repo("kill-index")

    def push(tag: str) -> list[str]:
        # Sources on the direct host, target through the proxy: every blob crosses the proxy.
        return ["manifest", "push", "from-args", "--insecure", "--platforms", "linux/amd64,linux/arm64",
                "--template", f"{registry.host}/{children}:v-ARCH", "--target", f"{via.host}/{target}:{tag}"]

    ok(run_cli(*push("clean"), env=fast_retry_env))
    total = proxy.stats.bytes
    for i, point in enumerate(kill_points(total, 3)):
        run_killed(push(f"m{i}"), proxy, point, fast_retry_env)
        tag_is_absent_or_complete(registry, target, f"m{i}")
        ok(run_cli(*push(f"m{i}"), env=fast_retry_env))
        assert assert_complete(registry, target, f"m{i}").digest == assert_complete(registry, target, "clean").digest


def run_step_started(store: Path) -> bool:
    """The RUN step wrote /started (seen in the step's upper or scratch dir; the build's
    mounts live in its own mount namespace)."""
    return any("started" in files for _, _, files in os.walk(store / "tmp"))


def test_build_killed_during_run_step_reruns_clean(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, fast_retry_env
) -> None:
    # The step waits for a file in the (bind-mounted) context: absent while the build is
    # killed, present for the rerun.
    context = write_context(tmp_path / "ctx", (
        "ARG BASE\nFROM $BASE\nRUN --mount=type=bind,target=/ctx touch /started && "
        "until [ -e /ctx/go ]; do sleep 0.05; done && echo ok > /ok\n"
    ))
    store = tmp_path / "store"
    env = environ(**fast_retry_env, MULTIARCH_CACHE_DIR=str(store))
    args = executor_args(context, busybox_image, f"{registry.host}/{unique_repo('kill-run')}:v1")
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: run_step_started(store) or proc.poll() is not None, timeout=60, what="the RUN step")
        proc.kill()
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (context / "go").write_text("")
    ok(run_cli(*args, env=env))
    assert mounts_under(store) == [] and leftovers(store) == []
    store_blobs_verify(store)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cancelled_build_stops_promptly_and_cleans_up(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, fast_retry_env, sig: signal.Signals
) -> None:
    marker = f"sleep-marker-{sig.name}"
    context = write_context(tmp_path / "ctx", f"ARG BASE\nFROM $BASE\nRUN touch /started && sleep 300 # {marker}\n")
    store = tmp_path / "store"
    args = executor_args(context, busybox_image, f"{registry.host}/{unique_repo('cancel')}:v1")
    proc = subprocess.Popen([*CLI, *args], env=environ(**fast_retry_env, MULTIARCH_CACHE_DIR=str(store)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: run_step_started(store) or proc.poll() is not None, timeout=60, what="the RUN step")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert stderr.strip() and "Traceback" not in stderr, stderr[-3000:]
    assert mounts_under(store) == []
    assert leftovers(store) == []
    still = subprocess.run(["pgrep", "-f", marker], check=False, capture_output=True, text=True).stdout.split()
    assert still == [], f"the RUN step outlived the build: {still}"
