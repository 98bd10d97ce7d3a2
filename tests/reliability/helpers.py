"""Shared by the reliability tests: run the CLI as a user does, and check what a registry
holds (through our client, straight to the registry, never through a fault proxy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from builder.oci.raw import RawManifest
from builder.registry import RegistryClient
from tests.fixtures.registry import RegistryHandle

CLI = [sys.executable, "-m", "multiarch.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], check=False, capture_output=True, text=True, env=env, timeout=timeout)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    return done


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def write_context(root: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def assert_complete(registry: RegistryHandle, repository: str, reference: str) -> RawManifest:
    """The manifest (or index) `reference` exists and everything it points to is there too:
    children of an index, config and layers of each image."""
    with RegistryClient(registry.options()) as client:
        top = client.get_manifest(registry.ref(repository, **_ident(reference)))
        todo = [top]
        while todo:
            raw = todo.pop()
            repo = registry.ref(repository)
            if raw.is_index:
                todo += [client.get_manifest(registry.ref(repository, digest=d.digest)) for d in raw.index().manifests]
                continue
            manifest = raw.manifest()
            for desc in (manifest.config, *manifest.layers):
                assert client.has_blob(repo, desc.digest), f"{repository}: {desc.digest} missing"
        return top


def _ident(reference: str) -> dict[str, str]:
    return {"digest": reference} if reference.startswith("sha256:") else {"tag": reference}


def mounts_under(path: Path) -> list[str]:
    """Mount points (this mount namespace) at or below `path`."""
    prefix = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def leftovers(store: Path) -> list[str]:
    """Temp files and dirs a build left in the store (tmp/ and *.tmp anywhere)."""
    found = [str(p) for p in store.rglob("*.tmp")] if store.exists() else []
    tmp = store / "tmp"
    if tmp.is_dir():
        found += [str(p) for p in tmp.iterdir()]
    return found


def environ(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
