"""Copies, index pushes and a real build with a RUN step through a seeded fault proxy:
at 20% faults they finish with the digests of a fault-free run; at 100% they fail within
the retry bound (MULTIARCH_RETRY_*) with a clear one-line message and publish nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.registry import RegistryClient
from tests.fixtures.faultproxy import FAULTS
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.reliability.helpers import assert_complete, last_line, ok, run_cli, write_context

SEEDS = (11,)  # seeds whose schedules do fault these requests (checked by each test)
FAILING = tuple(f for f in FAULTS if f != "stall")  # a stall only slows a request down
BUILD = """ARG BASE
FROM $BASE
RUN echo built > /built && mkdir -p /data && seq 1 2000 > /data/numbers
CMD ["cat", "/built"]
"""


def index_digest(layout: Path) -> str:
    import json

    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


@pytest.mark.parametrize("seed", SEEDS)
def test_copy_round_trip_through_faults(
    tmp_path: Path, registry: RegistryHandle, busybox_layout: Path, fault_proxy, fast_retry_env, seed: int
) -> None:
    proxy, via = fault_proxy(registry, seed=seed, rate=0.2)
    repo = unique_repo("faults-copy")
    insecure = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    up = ok(run_cli("copy", "--all", *insecure, f"oci:{busybox_layout}:latest", f"docker://{via.host}/{repo}:v1",
                    env=fast_retry_env))
    down = ok(run_cli("copy", "--all", *insecure, f"docker://{via.host}/{repo}:v1", f"oci:{tmp_path / 'back'}:v1",
                      env=fast_retry_env))
    expected = index_digest(busybox_layout)
    assert up.stdout.split()[0] == down.stdout.split()[0] == expected
    assert index_digest(tmp_path / "back") == expected
    assert assert_complete(registry, repo, "v1").digest == expected
    assert sum(proxy.stats.faults.values()) > 0, proxy.stats


def push_index(host: str, repo: str, tag: str, digest_file: Path, env: dict[str, str] | None = None):
    """`manifest push` of the busybox children in `repo` (through `host`) as REPO:TAG."""
    return run_cli("manifest", "push", "from-args", "--insecure", "--platforms", "linux/amd64,linux/arm64",
                   "--template", f"{host}/{repo}:v-ARCH", "--target", f"{host}/{repo}:{tag}",
                   "--digest-file", str(digest_file), env=env)


@pytest.fixture(scope="module")
def clean_index(registry: RegistryHandle, busybox_children: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The digest of the index pushed without faults: the reference for the faulty pushes."""
    digest_file = tmp_path_factory.mktemp("clean-index") / "digest"
    ok(push_index(registry.host, busybox_children, "clean", digest_file))
    return digest_file.read_text().strip()


@pytest.mark.parametrize("seed", (1, 3))
def test_index_push_through_faults(
    tmp_path: Path, registry: RegistryHandle, busybox_children: str, clean_index: str, fault_proxy,
    fast_retry_env, seed: int,
) -> None:
    proxy, via = fault_proxy(registry, seed=seed, rate=0.2)
    tag = f"faulty-{seed}"
    ok(push_index(via.host, busybox_children, tag, tmp_path / "digest", fast_retry_env))
    assert (tmp_path / "digest").read_text().strip() == clean_index
    assert assert_complete(registry, busybox_children, tag).digest == clean_index
    assert sum(proxy.stats.faults.values()) > 0, proxy.stats


def build(context: Path, base: str, destination: str, env: dict[str, str], *extra: str):
    return run_cli("executor", "--context", str(context), "--dockerfile", str(context / "Dockerfile"),
                   "--build-arg", f"BASE={base}",
                   "--destination", destination, "--insecure-registry", destination.split("/")[0],
                   "--insecure-registry", base.split("/")[0], "--reproducible", *extra, env=env)


def test_build_with_run_step_through_faults(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, fault_proxy, fast_retry_env, own_store
) -> None:
    context = write_context(tmp_path / "ctx", BUILD)
    repo = unique_repo("faults-build")
    clean_file, faulty_file = tmp_path / "clean", tmp_path / "faulty"
    ok(build(context, busybox_image, f"{registry.host}/{repo}:clean", fast_retry_env, "--digest-file", str(clean_file)))
    proxy, via = fault_proxy(registry, seed=5, rate=0.2)
    env = {**fast_retry_env, "MULTIARCH_CACHE_DIR": str(tmp_path / "other-store")}  # pull again, through faults
    base_via = busybox_image.replace(registry.host, via.host)
    ok(build(context, base_via, f"{via.host}/{repo}:faulty", env, "--digest-file", str(faulty_file)))
    assert faulty_file.read_text() == clean_file.read_text()
    assert assert_complete(registry, repo, "faulty").digest == clean_file.read_text()
    assert sum(proxy.stats.faults.values()) > 0, proxy.stats


@pytest.fixture
def all_faults(registry: RegistryHandle, fault_proxy, fast_retry_env) -> tuple[RegistryHandle, dict[str, str]]:
    _, via = fault_proxy(registry, seed=1, rate=1.0, faults=FAILING)
    return via, {**fast_retry_env, "MULTIARCH_RETRY_ATTEMPTS": "3"}


def assert_clear_failure(done, host: str) -> None:
    assert done.returncode == 1, done.stderr
    line = last_line(done)
    assert host in line and "Traceback" not in done.stderr, done.stderr[-3000:]


def tags(registry: RegistryHandle, repo: str) -> list[str]:
    with RegistryClient(registry.options()) as client:
        return client.list_tags(registry.ref(repo))


def test_copy_fails_clearly_at_full_fault_rate(registry: RegistryHandle, busybox_layout: Path, all_faults) -> None:
    via, env = all_faults
    repo = unique_repo("faults-all")
    done = run_cli("copy", "--all", "--dest-tls-verify=false", f"oci:{busybox_layout}:latest",
                   f"docker://{via.host}/{repo}:v1", env=env)
    assert_clear_failure(done, via.host)
    assert tags(registry, repo) == []


def test_index_push_fails_clearly_at_full_fault_rate(
    tmp_path: Path, registry: RegistryHandle, busybox_children: str, all_faults
) -> None:
    via, env = all_faults
    done = push_index(via.host, busybox_children, "all-faults", tmp_path / "digest", env)
    assert_clear_failure(done, via.host)
    assert "all-faults" not in tags(registry, busybox_children)


def test_build_fails_clearly_at_full_fault_rate(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, all_faults, own_store
) -> None:
    via, env = all_faults
    repo = unique_repo("faults-all")
    context = write_context(tmp_path / "ctx", BUILD)
    done = build(context, busybox_image.replace(registry.host, via.host), f"{via.host}/{repo}:v1", env)
    assert_clear_failure(done, via.host)
    assert tags(registry, repo) == []
