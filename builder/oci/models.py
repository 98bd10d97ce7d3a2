"""Pydantic models of the OCI image spec and Docker schema2.

The OCI manifest and Docker schema2 manifest share one shape (as do the OCI index and
Docker manifest list); `media_type` tells them apart. Unknown fields are kept
(`extra="allow"`) and written back, so a manifest read and re-serialised loses nothing.
Serialise with `to_json()` (camelCase aliases, no unset fields).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from builder.oci import mediatypes as mt
from builder.oci.digest import sha256_digest


class OCIModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def to_json(self) -> bytes:
        """Canonical-enough bytes: compact, keys in model order. Hash these, push these."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()


class Platform(OCIModel):
    architecture: str
    os: str
    os_version: str | None = Field(default=None, alias="os.version")
    os_features: list[str] | None = Field(default=None, alias="os.features")
    variant: str | None = None
    features: list[str] | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


class Descriptor(OCIModel):
    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")

    @classmethod
    def of_bytes(cls, data: bytes, media_type: str, **extra: Any) -> "Descriptor":
        return cls(mediaType=media_type, digest=sha256_digest(data), size=len(data), **extra)


class ImageManifest(OCIModel):
    """OCI image manifest or Docker schema2 manifest."""

    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str | None = Field(default=mt.OCI_MANIFEST, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    config: Descriptor
    layers: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class ImageIndex(OCIModel):
    """OCI image index or Docker manifest list."""

    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str | None = Field(default=mt.OCI_INDEX, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    manifests: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class HealthConfig(OCIModel):
    test: list[str] | None = Field(default=None, alias="Test")
    interval: int | None = Field(default=None, alias="Interval")
    timeout: int | None = Field(default=None, alias="Timeout")
    start_period: int | None = Field(default=None, alias="StartPeriod")
    start_interval: int | None = Field(default=None, alias="StartInterval")
    retries: int | None = Field(default=None, alias="Retries")


class ContainerConfig(OCIModel):
    """The `config` object of an image config (Docker's field names, as BuildKit writes)."""

    user: str | None = Field(default=None, alias="User")
    exposed_ports: dict[str, dict[str, Any]] | None = Field(default=None, alias="ExposedPorts")
    env: list[str] | None = Field(default=None, alias="Env")
    entrypoint: list[str] | None = Field(default=None, alias="Entrypoint")
    cmd: list[str] | None = Field(default=None, alias="Cmd")
    volumes: dict[str, dict[str, Any]] | None = Field(default=None, alias="Volumes")
    working_dir: str | None = Field(default=None, alias="WorkingDir")
    labels: dict[str, str] | None = Field(default=None, alias="Labels")
    stop_signal: str | None = Field(default=None, alias="StopSignal")
    args_escaped: bool | None = Field(default=None, alias="ArgsEscaped")
    healthcheck: HealthConfig | None = Field(default=None, alias="Healthcheck")
    on_build: list[str] | None = Field(default=None, alias="OnBuild")
    shell: list[str] | None = Field(default=None, alias="Shell")


class RootFS(OCIModel):
    type: str = "layers"
    diff_ids: list[str] = Field(default_factory=list)


class History(OCIModel):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class ImageConfig(OCIModel):
    created: str | None = None
    author: str | None = None
    architecture: str
    os: str
    os_version: str | None = Field(default=None, alias="os.version")
    os_features: list[str] | None = Field(default=None, alias="os.features")
    variant: str | None = None
    config: ContainerConfig | None = None
    rootfs: RootFS = Field(default_factory=RootFS)
    history: list[History] | None = None

    def platform(self) -> Platform:
        fields = {"architecture": self.architecture, "os": self.os, "variant": self.variant}
        return Platform.model_validate(
            fields | ({"os.version": self.os_version} if self.os_version else {})
        )
