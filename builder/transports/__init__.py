"""Where an image lives, one interface each: docker://REF (registry, the default),
oci:DIR[:TAG] (OCI image layout), docker-archive:FILE[:REF] (`docker save` tar)."""

from __future__ import annotations

from builder.errors import TransportError
from builder.transports.base import ImageDestination, ImageSource, TransportContext
from builder.transports.copy import CopyResult, copy_image
from builder.transports.names import Location, parse_location
from builder.transports.resolve import ResolvedImage, read_config, resolve_image


def open_source(name: str | Location, ctx: TransportContext | None = None) -> ImageSource:
    location = parse_location(name) if isinstance(name, str) else name
    if location.kind == "oci":
        from builder.transports.layout import LayoutSource

        assert location.path is not None
        return LayoutSource(location.path, location.name)
    if location.kind == "docker-archive":
        from builder.transports.archive import ArchiveSource

        assert location.path is not None
        return ArchiveSource(location.path, location.reference, location.archive_index)
    from builder.transports.docker import RegistrySource

    assert location.reference is not None
    return RegistrySource(location.reference, (ctx or TransportContext()).registry_client())


def open_destination(name: str | Location, ctx: TransportContext | None = None) -> ImageDestination:
    location = parse_location(name) if isinstance(name, str) else name
    if location.kind == "oci":
        from builder.transports.layout import LayoutDestination

        assert location.path is not None
        return LayoutDestination(location.path, location.name)
    if location.kind == "docker-archive":
        from builder.transports.archive import ArchiveDestination

        assert location.path is not None
        if location.archive_index is not None:
            raise TransportError(
                f"{location}: @N picks an image to read; to write, name the image with NAME:TAG"
            )
        return ArchiveDestination(location.path, location.reference)
    from builder.transports.docker import RegistryDestination

    assert location.reference is not None
    return RegistryDestination(location.reference, (ctx or TransportContext()).registry_client())


__all__ = [
    "CopyResult",
    "ImageDestination",
    "ImageSource",
    "Location",
    "ResolvedImage",
    "TransportContext",
    "copy_image",
    "open_destination",
    "open_source",
    "parse_location",
    "read_config",
    "resolve_image",
]
