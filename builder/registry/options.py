"""How to reach registries: TLS, insecure hosts, credentials, retry bounds.

Retry bounds and the request timeout default from the environment, so a CI job (or a test
driving the CLI) can tighten them without a flag on every command:
MULTIARCH_RETRY_ATTEMPTS, MULTIARCH_RETRY_MAX_SECONDS, MULTIARCH_RETRY_INITIAL_DELAY,
MULTIARCH_RETRY_MAX_DELAY, MULTIARCH_REGISTRY_TIMEOUT (seconds).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from builder.errors import UsageError


class Credential(BaseModel):
    """A login for one registry. `source` says where it came from (never the value)."""

    model_config = ConfigDict(frozen=True)

    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    identity_token: str | None = Field(default=None, repr=False)
    source: str = "explicit credentials"


N = TypeVar("N", int, float)


def _from_env(name: str, default: N, kind: Callable[[str], N]) -> Callable[[], N]:
    def read() -> N:
        value = os.environ.get(name)
        if not value:
            return default
        try:
            return kind(value)
        except ValueError:
            raise UsageError(f"{name}={value!r} is not a number") from None

    return read


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    attempts: int = Field(default_factory=_from_env("MULTIARCH_RETRY_ATTEMPTS", 5, int), ge=1)
    max_seconds: float = Field(default_factory=_from_env("MULTIARCH_RETRY_MAX_SECONDS", 120.0, float), ge=0)
    initial_delay: float = Field(default_factory=_from_env("MULTIARCH_RETRY_INITIAL_DELAY", 0.5, float), ge=0)
    max_delay: float = Field(default_factory=_from_env("MULTIARCH_RETRY_MAX_DELAY", 20.0, float), ge=0)


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
    client_certs: dict[str, tuple[Path, Path]] = Field(default_factory=dict)
    """(certificate, key) shown to a host that asks for one: mutual TLS (kaniko
    --registry-client-cert host=cert,key)."""
    mirrors: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Pull-through mirrors tried before a registry for reads (kaniko --registry-mirror)."""
    mirror_fallback: bool = True
    """False: a registry with mirrors is not read when they all fail (kaniko
    --skip-default-registry-fallback)."""
    docker_config: Path | None = None
    """config.json file or directory; default $DOCKER_CONFIG, ~/.docker, /kaniko/.docker."""
    credentials: dict[str, Credential] = Field(default_factory=dict)
    """Explicit logins per host; they win over config.json and CI variables."""
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    chunked_threshold: int = 1 << 30
    """Blobs larger than this are uploaded in resumable chunks; smaller ones in one streaming
    PUT, which is fastest (each chunk costs the registry a round of bookkeeping) and is
    repeated whole if it fails."""
    chunk_size: int = 128 << 20
    timeout: float = Field(default_factory=_from_env("MULTIARCH_REGISTRY_TIMEOUT", 60.0, float), gt=0)


def parse_client_certs(values: Iterable[str]) -> dict[str, tuple[Path, Path]]:
    """`--registry-client-cert HOST=CERT,KEY` values (kaniko's) as
    `RegistryOptions.client_certs`."""
    certs: dict[str, tuple[Path, Path]] = {}
    for value in values:
        host, eq, files = value.partition("=")
        cert, comma, key = files.partition(",")
        if not host or not eq or not cert or not comma or not key:
            raise UsageError(
                f"--registry-client-cert {value!r}: expected HOST=CERT,KEY",
                "e.g. --registry-client-cert reg.example=/certs/client.crt,/certs/client.key",
            )
        certs[host] = (Path(cert), Path(key))
    return certs


def parse_ca_files(values: Iterable[str]) -> dict[str, tuple[Path, ...]]:
    """`--registry-certificate HOST=PATH` values as `RegistryOptions.ca_files`; a host given
    more than once trusts every file named for it."""
    files: dict[str, tuple[Path, ...]] = {}
    for value in values:
        host, eq, path = value.partition("=")
        if not host or not eq or not path:
            raise UsageError(f"--registry-certificate {value!r}: expected HOST=PATH")
        files[host] = (*files.get(host, ()), Path(path))
    return files
