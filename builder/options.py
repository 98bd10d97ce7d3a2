"""ExecutorOptions: every `multiarch executor` flag (kaniko's surface) as one typed value."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, ValidationError

from builder.option_choices import (
    AttestFormat,
    Compression,
    Isolation,
    LogFormat,
    Progress,
    Provenance,
    RunNetwork,
    SbomFormat,
    SnapshotMode,
    Verbosity,
)

__all__ = [
    "AttestFormat", "Compression", "ExecutorOptions", "HostEntry", "Isolation", "LogFormat",
    "Progress", "Provenance", "RunNetwork", "SbomFormat", "SecretSource", "SnapshotMode", "Verbosity",
]


class SecretSource(BaseModel):
    """`--secret id=ID,src=PATH` or `--secret id=ID,env=VAR`."""

    model_config = ConfigDict(frozen=True)

    id: str
    src: str | None = None
    env: str | None = None


class HostEntry(BaseModel):
    """`--add-host HOST:IP` (buildx and docker's form; `HOST=IP` too)."""

    model_config = ConfigDict(frozen=True)

    host: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
    ip: IPvAnyAddress

    @classmethod
    def parse(cls, text: str) -> HostEntry:
        """HOST:IP (docker's form) or HOST=IP; an IPv6 address keeps its colons. ValueError
        when it is neither."""
        separator = "=" if "=" in text else ":"
        host, _, ip = text.partition(separator)
        try:
            return cls.model_validate({"host": host, "ip": ip})
        except ValidationError:
            raise ValueError(f"{text!r} is not HOST:IP (e.g. db:127.0.0.1)") from None

    def __str__(self) -> str:
        return f"{self.host}={self.ip}"


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
    annotations: dict[str, str] = Field(default_factory=dict)
    """On the image manifest (buildx's `--annotation manifest:KEY=VALUE`; kaniko has none)."""
    target: str | None = None
    build_contexts: dict[str, str] = Field(default_factory=dict)
    """NAME -> `docker-image://REF` or a directory: what FROM NAME and COPY --from=NAME read
    instead of a stage or image of that name (buildx's --build-context)."""
    custom_platform: str | None = None
    reproducible: bool = False
    single_snapshot: bool = False
    snapshot_mode: SnapshotMode = SnapshotMode.FULL
    insecure: bool = False
    insecure_registries: tuple[str, ...] = ()
    skip_tls_verify: bool = False
    skip_tls_verify_registries: tuple[str, ...] = ()
    registry_certificates: dict[str, str] = Field(default_factory=dict)  # host -> CA file
    registry_client_certs: dict[str, tuple[str, str]] = Field(default_factory=dict)
    """host -> (certificate, key) for registries that ask for one (kaniko's
    --registry-client-cert HOST=CERT,KEY)."""
    registry_mirrors: tuple[str, ...] = ()
    registry_maps: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """REGISTRY -> mirrors read first for that registry (kaniko's --registry-map)."""
    skip_default_registry_fallback: bool = False
    """A registry with mirrors is not read itself when they fail (kaniko's flag)."""
    context_sub_path: str | None = None
    """The build context is this directory inside --context (kaniko's --context-sub-path)."""
    pull_retry: int = Field(default=0, ge=0)
    """Retries of each read from a registry (kaniko's --image-download-retry and
    --image-fs-extract-retry); every request is retried anyway (MULTIARCH_RETRY_ATTEMPTS)."""
    insecure_pull: bool = False
    skip_tls_verify_pull: bool = False
    push_retry: int = Field(default=0, ge=0)
    push_ignore_immutable_tag_errors: bool = False
    """A registry refusing to move an immutable tag it already holds is a warning, not a
    failure (kaniko's flag: parallel builds of one tag, any of them will do)."""
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
    cache_repo_push: bool = True
    """False: --cache-repo is only read (buildx's --cache-from without --cache-to)."""
    no_cache: bool = False
    """Look nothing up in the cache, still record each step (buildx's --no-cache; with
    --cache-repo the repository is refreshed)."""
    secrets: tuple[SecretSource, ...] = ()
    isolation: Isolation = Isolation.AUTO
    network: RunNetwork = RunNetwork.DEFAULT
    """RUN steps without their own --network: default (the host's, as kaniko), host or none."""
    add_hosts: tuple[HostEntry, ...] = ()
    """Extra /etc/hosts lines in RUN steps (buildx's --add-host HOST:IP)."""
    force: bool = False
    """--isolation container-root outside what looks like a container (kaniko's --force)."""
    metadata_file: str | None = None
    json_result: str | None = None
    progress: Progress = Progress.AUTO
    check: bool = False
    provenance: Provenance = Provenance.OFF
    """SLSA provenance attached to the pushed image (kaniko has none: off by default)."""
    sbom: bool = False
    """An SBOM of the image's final filesystem attached to it (buildx's --sbom)."""
    sbom_format: SbomFormat = SbomFormat.SPDX
    attest_format: AttestFormat = AttestFormat.OCI
    defer_referrers_tag: bool = False
    """Leave the referrers tag (`sha256-<digest>`, on a registry without the referrers API)
    to the caller: `multiarch build` writes it once every platform is built, so a failed
    platform leaves no tag behind. The artifacts are pushed by digest as always."""
    sign_key: str | None = None
    """The key that signs each attestation (DSSE): a PEM file, or env://NAME whose value is PEM
    text or a path. None: `env://MULTIARCH_SIGN_KEY` when that variable is set, else unsigned.
    Never the key itself (options are logged and passed on)."""
