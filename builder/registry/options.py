"""How to reach registries: TLS, insecure hosts, credentials, retry bounds."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Credential(BaseModel):
    """A login for one registry. `source` says where it came from (never the value)."""

    model_config = ConfigDict(frozen=True)

    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    identity_token: str | None = Field(default=None, repr=False)
    source: str = "explicit credentials"


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    attempts: int = 5
    max_seconds: float = 120.0
    initial_delay: float = 0.5
    max_delay: float = 20.0


class RegistryOptions(BaseModel):
    """Everything the client needs to know about registries beyond their references.

    Hosts are `host[:port]` as in references; `docker.io` aliases are normalised by the client.
    """

    model_config = ConfigDict(frozen=True)

    insecure: frozenset[str] = frozenset()
    """Registries that may be reached over plain HTTP (kaniko --insecure-registry)."""
    skip_verify: frozenset[str] = frozenset()
    """Registries whose TLS certificate is not verified (kaniko --skip-tls-verify-registry)."""
    ca_files: dict[str, tuple[Path, ...]] = Field(default_factory=dict)
    """Extra CA bundles per host (kaniko --registry-certificate host=path)."""
    mirrors: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Pull-through mirrors tried before a registry for reads (kaniko --registry-mirror)."""
    docker_config: Path | None = None
    """config.json file or directory; default $DOCKER_CONFIG, ~/.docker, /kaniko/.docker."""
    credentials: dict[str, Credential] = Field(default_factory=dict)
    """Explicit logins per host; they win over config.json and CI variables."""
    retry: RetryPolicy = RetryPolicy()
    chunked_threshold: int = 64 << 20
    """Blobs larger than this are uploaded in resumable chunks."""
    chunk_size: int = 16 << 20
    timeout: float = 60.0
