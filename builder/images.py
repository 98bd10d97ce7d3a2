"""builder's public image operations: copy, push and inspect images wherever they live.

Locations use skopeo's names: `docker://REF` or a bare `REG/REPO[:TAG|@DIGEST]` (a registry),
`oci:DIR[:TAG]` (an OCI layout), `docker-archive:FILE[:REF]` (a `docker save` tar). Registry
access follows the same rules as the command line: logins from the Docker config (or
`docker_config`), plain HTTP only for `insecure_registries`, extra CAs per host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from builder.errors import UsageError
from builder.oci.models import Descriptor, ImageConfig, Platform
from builder.oci.platform import parse_platform, select_manifest
from builder.reference import Reference
from builder.registry.options import RegistryOptions
from builder.transports import (
    CopyResult,
    TransportContext,
    copy_image,
    open_destination,
    open_source,
    parse_location,
    read_config,
)
from builder.transports.copy import fetch_child

PathText = str | os.PathLike[str]


class ImageInfo(BaseModel):
    """What `inspect` finds at a location: an index (its `manifests`) or an image (its
    `config` and `layers`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    digest: str
    media_type: str
    size: int
    manifest: dict[str, Any]
    """The top-level manifest or index as stored (parsed JSON)."""
    manifests: tuple[Descriptor, ...] = ()
    """An index's entries, each with its platform."""
    config: ImageConfig | None = None
    layers: tuple[Descriptor, ...] = ()

    @property
    def is_index(self) -> bool:
        return bool(self.manifests) or self.config is None

    @property
    def platforms(self) -> tuple[Platform, ...]:
        if self.config is not None:
            return (self.config.platform(),)
        return tuple(m.platform for m in self.manifests if m.platform is not None)


ClientCerts = Mapping[str, tuple[PathText, PathText]]
"""Registry host -> (certificate, key) shown when it asks for one (mutual TLS)."""


def registry_context(
    insecure_registries: Sequence[str] = (),
    registry_certificates: Mapping[str, PathText] | None = None,
    docker_config: PathText | None = None,
    registry_client_certs: ClientCerts | None = None,
) -> TransportContext:
    """A transport context: plain HTTP and unverified TLS for `insecure_registries`
    (host[:port]), extra CA files and client certificates per host, logins from
    `docker_config`."""
    certificates = registry_certificates or {}
    ca_files: dict[str, tuple[Path, ...]] = {h: (Path(p),) for h, p in certificates.items()}
    options = RegistryOptions(
        insecure=frozenset(insecure_registries),
        skip_verify=frozenset(insecure_registries),
        ca_files=ca_files,
        client_certs={host: (Path(cert), Path(key))
                      for host, (cert, key) in (registry_client_certs or {}).items()},
        docker_config=Path(docker_config) if docker_config is not None else None,
    )
    return TransportContext(registry_options=options)


def copy(
    source: str,
    destination: str,
    *,
    platform: str | None = None,
    all_platforms: bool = False,
    insecure_registries: Sequence[str] = (),
    registry_certificates: Mapping[str, PathText] | None = None,
    docker_config: PathText | None = None,
    registry_client_certs: ClientCerts | None = None,
) -> CopyResult:
    """Copy the image (or, with `all_platforms`, the whole index) at `source` to
    `destination`, moving only the blobs the destination lacks. From an index without
    `all_platforms`, the entry for `platform` (default: this host's) is copied."""
    if all_platforms and platform:
        raise UsageError("--all and --platform exclude each other")
    wanted = parse_platform(platform) if platform else None
    src, dst = parse_location(source), parse_location(destination)
    ctx = registry_context(insecure_registries, registry_certificates, docker_config,
                           registry_client_certs)
    try:
        with closing(open_source(src, ctx)) as image_source, \
                closing(open_destination(dst, ctx)) as image_destination:  # fmt: skip
            return copy_image(image_source, image_destination, platform=wanted,
                              all_platforms=all_platforms)  # fmt: skip
    finally:
        ctx.close()


def push(
    image: str,
    reference: str,
    *,
    insecure_registries: Sequence[str] = (),
    registry_certificates: Mapping[str, PathText] | None = None,
    docker_config: PathText | None = None,
    registry_client_certs: ClientCerts | None = None,
) -> str:
    """Push the image or index at `image` (e.g. `oci:DIR:TAG`) to the registry `reference`,
    every platform; returns `REG/REPO:TAG@DIGEST` as pushed."""
    target = _registry_reference(reference)
    result = copy(
        image,
        f"docker://{target}",
        all_platforms=True,
        insecure_registries=insecure_registries,
        registry_certificates=registry_certificates,
        docker_config=docker_config,
        registry_client_certs=registry_client_certs,
    )
    tagged = target if target.tag or target.digest else target.with_tag("latest")
    return f"{tagged.with_digest(result.descriptor.digest)}"


def inspect(
    location: str,
    *,
    platform: str | None = None,
    insecure_registries: Sequence[str] = (),
    registry_certificates: Mapping[str, PathText] | None = None,
    docker_config: PathText | None = None,
    registry_client_certs: ClientCerts | None = None,
) -> ImageInfo:
    """The manifest or index at `location`, with an image's config and layers. With
    `platform`, an index's entry for that platform is inspected instead of the index."""
    wanted = parse_platform(platform) if platform else None
    ctx = registry_context(insecure_registries, registry_certificates, docker_config,
                           registry_client_certs)
    try:
        with closing(open_source(location, ctx)) as source:
            top = source.get_manifest()
            if top.is_index and wanted is not None:
                top = fetch_child(source, select_manifest(top.index(), wanted))
            entries: tuple[Descriptor, ...] = ()
            layers: tuple[Descriptor, ...] = ()
            config: ImageConfig | None = None
            if top.is_index:
                entries = tuple(top.index().manifests)
            else:
                manifest = top.manifest()
                layers = tuple(manifest.layers)
                config = read_config(source, manifest.config)
    finally:
        ctx.close()
    return ImageInfo(
        name=location,
        digest=top.digest,
        media_type=top.media_type,
        size=len(top.data),
        manifest=json.loads(top.data),
        manifests=entries,
        config=config,
        layers=layers,
    )


def _registry_reference(text: str) -> Reference:
    location = parse_location(text)
    if location.kind != "docker" or location.reference is None:
        raise UsageError(f"{text!r} is not a registry reference", "e.g. registry.example/app:1.0")
    return location.reference
