"""ExecutorOptions: every `multiarch executor` flag (kaniko's surface) as one typed value."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from builder.option_choices import (
    AttestFormat,
    Compression,
    Isolation,
    LogFormat,
    Progress,
    Provenance,
    SnapshotMode,
    Verbosity,
)

__all__ = [
    "AttestFormat", "Compression", "ExecutorOptions", "Isolation", "LogFormat", "Progress",
    "Provenance", "SecretSource", "SnapshotMode", "Verbosity",
]


class SecretSource(BaseModel):
    """`--secret id=ID,src=PATH` or `--secret id=ID,env=VAR`."""

    model_config = ConfigDict(frozen=True)

    id: str
    src: str | None = None
    env: str | None = None


class ExecutorOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    context: str = "/workspace/"
    dockerfile: str | None = None
    """None: CONTEXT/Dockerfile. See builder.executor.context.locate_dockerfile."""
    destinations: tuple[str, ...] = ()
    push_by_digest: tuple[str, ...] = ()
    """Repositories (REGISTRY/REPO) that get the image by digest only, no tag."""
    no_push: bool = False
    tar_path: str | None = None
    oci_layout_path: str | None = None
    digest_file: str | None = None
    image_name_with_digest_file: str | None = None
    image_name_tag_with_digest_file: str | None = None
    build_args: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    target: str | None = None
    custom_platform: str | None = None
    reproducible: bool = False
    single_snapshot: bool = False
    snapshot_mode: SnapshotMode = SnapshotMode.FULL
    insecure: bool = False
    insecure_registries: tuple[str, ...] = ()
    skip_tls_verify: bool = False
    skip_tls_verify_registries: tuple[str, ...] = ()
    registry_certificates: dict[str, str] = Field(default_factory=dict)  # host -> CA file
    registry_mirrors: tuple[str, ...] = ()
    insecure_pull: bool = False
    skip_tls_verify_pull: bool = False
    push_retry: int = Field(default=0, ge=0)
    compression: Compression = Compression.GZIP
    compression_level: int = -1
    ignore_paths: tuple[str, ...] = ()
    cleanup: bool = False
    verbosity: Verbosity = Verbosity.INFO
    log_format: LogFormat = LogFormat.COLOR
    cache: bool = False
    cache_repo: str | None = None
    cache_dir: str | None = None
    """The local store (blobs, extracted layers, cache entries); None: the default store."""
    cache_ttl: str = "336h"
    cache_run_layers: bool = True
    cache_copy_layers: bool = True
    secrets: tuple[SecretSource, ...] = ()
    isolation: Isolation = Isolation.AUTO
    force: bool = False
    """--isolation container-root outside what looks like a container (kaniko's --force)."""
    metadata_file: str | None = None
    json_result: str | None = None
    progress: Progress = Progress.AUTO
    check: bool = False
    provenance: Provenance = Provenance.OFF
    """SLSA provenance attached to the pushed image (kaniko has none: off by default)."""
    attest_format: AttestFormat = AttestFormat.OCI
    sign_key: str | None = None
    """The key that signs each attestation (DSSE): a PEM file, or env://NAME whose value is PEM
    text or a path. None: `env://MULTIARCH_SIGN_KEY` when that variable is set, else unsigned.
    Never the key itself (options are logged and passed on)."""
