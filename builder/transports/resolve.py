"""What a FROM needs from a base image: its manifest for one platform and its config."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import ValidationError

from builder.errors import TransportError
from builder.oci.models import Descriptor, ImageConfig, ImageManifest, Platform
from builder.oci.platform import host_platform, select_manifest
from builder.oci.raw import ManifestFormatError, RawManifest
from builder.transports.base import ImageSource
from builder.transports.copy import fetch_child

CONFIG_LIMIT = 16 << 20


class ResolvedImage(NamedTuple):
    raw: RawManifest
    manifest: ImageManifest
    config: ImageConfig


def resolve_image(source: ImageSource, platform: Platform | None = None) -> ResolvedImage:
    """The image manifest for `platform` (default: the host's) and its config. A source
    that is a single image is returned as it is, whatever its platform."""
    raw = source.get_manifest()
    if raw.is_index:
        raw = fetch_child(source, select_manifest(raw.index(), platform or host_platform()))
        if raw.is_index:
            raise TransportError(f"{source.description}: nested indexes are not supported as base images")
    manifest = raw.manifest()
    return ResolvedImage(raw, manifest, read_config(source, manifest.config))


def read_config(source: ImageSource, desc: Descriptor) -> ImageConfig:
    if desc.size > CONFIG_LIMIT:
        raise ManifestFormatError(f"{source.description}: image config of {desc.size} bytes is too large")
    with source.open_blob(desc) as chunks:
        data = b"".join(chunks)
    try:
        return ImageConfig.model_validate_json(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ManifestFormatError(
            f"{source.description}: malformed image config {desc.digest[:19]}: {where}: {first['msg']}"
        ) from None
