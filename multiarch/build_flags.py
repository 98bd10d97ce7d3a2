"""`multiarch build`'s flags as one value, shared by the command's declaration
(`multiarch.build_command`) and what it runs (`multiarch.coordinator`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_JOBS = 2


@dataclass(frozen=True)
class BuildFlags:
    spec_or_context: str | None = None
    platforms: str | None = None
    tags: tuple[str, ...] = ()
    dockerfile: str | None = None
    build_args: tuple[str, ...] = ()
    target: str | None = None
    outputs: tuple[str, ...] = ()
    index_type: str | None = None
    jobs: int = DEFAULT_JOBS
    ignore_missing: bool = False
    insecure: bool = False
    insecure_registry: tuple[str, ...] = ()
    registry_certificate: tuple[str, ...] = ()
    registry_client_cert: tuple[str, ...] = ()
    isolation: str | None = None
    progress: str = "auto"
    metadata_file: Path | None = None
    dotenv: Path | None = None
    sign_key: str | None = None
    provenance: str | None = None
    sbom: str | None = None
    sbom_format: str | None = None
    attest_format: str | None = None
    # buildx's flags (README "buildx flag → multiarch")
    secrets: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    network: str | None = None
    add_hosts: tuple[str, ...] = ()
    build_contexts: tuple[str, ...] = ()
    iidfile: Path | None = None
    quiet: bool = False
    call: str = "build"
    check: bool = False
    push: bool = False
    load: bool = False
    ssh: tuple[str, ...] = ()
    builder: str | None = None
    allow: tuple[str, ...] = ()
