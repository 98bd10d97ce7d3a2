"""Fixtures for the reliability suite: fault proxies in front of the real registry, a fast
retry policy (also for CLI subprocesses, through the environment) and the busybox base."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from builder.registry import RetryPolicy
from tests.fixtures.busybox_images import busybox_image, busybox_layout  # noqa: F401
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.rootfs import rootfs_templates  # noqa: F401

# Attempts x tiny backoff: a 20% fault rate is survived, a 100% one fails in well under a second.
FAST_RETRY_ENV = {
    "MULTIARCH_RETRY_ATTEMPTS": "8",
    "MULTIARCH_RETRY_MAX_SECONDS": "30",
    "MULTIARCH_RETRY_INITIAL_DELAY": "0.01",
    "MULTIARCH_RETRY_MAX_DELAY": "0.05",
    "MULTIARCH_REGISTRY_TIMEOUT": "10",
}
FAST_RETRY = RetryPolicy(attempts=8, max_seconds=30, initial_delay=0.01, max_delay=0.05)


@pytest.fixture
def fast_retry_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in FAST_RETRY_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


@pytest.fixture
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(store))
    return store


@pytest.fixture(scope="session")
def busybox_children(registry: RegistryHandle, busybox_layout: Path) -> str:  # noqa: F811
    """A repository holding the busybox image of each arch as :v-amd64 and :v-arm64, the
    children that index pushes assemble (pushed by skopeo, an independent client)."""
    repo = unique_repo("children")
    for arch in ("amd64", "arm64"):
        subprocess.run(["skopeo", "copy", "--quiet", "--override-arch", arch, "--dest-tls-verify=false",
                        f"oci:{busybox_layout}:latest", f"docker://{registry.host}/{repo}:v-{arch}"],
                       check=True, capture_output=True)
    return repo
