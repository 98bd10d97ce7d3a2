"""Open an image by its name: the transport its scheme names (docker://, oci:, docker-archive:)."""

from __future__ import annotations

from builder.errors import TransportError
from builder.transports.archive import ArchiveDestination, ArchiveSource
from builder.transports.base import ImageDestination, ImageSource, TransportContext
from builder.transports.docker import RegistryDestination, RegistrySource
from builder.transports.layout import LayoutDestination, LayoutSource
from builder.transports.names import Location, parse_location


def open_source(name: str | Location, ctx: TransportContext | None = None) -> ImageSource:
    location = parse_location(name) if isinstance(name, str) else name
    if location.kind == "oci":
        assert location.path is not None
        return LayoutSource(location.path, location.name)
    if location.kind == "docker-archive":
        assert location.path is not None
        return ArchiveSource(location.path, location.reference, location.archive_index)

    assert location.reference is not None
    return RegistrySource(location.reference, (ctx or TransportContext()).registry_client())


def open_destination(name: str | Location, ctx: TransportContext | None = None) -> ImageDestination:
    location = parse_location(name) if isinstance(name, str) else name
    if location.kind == "oci":
        assert location.path is not None
        return LayoutDestination(location.path, location.name)
    if location.kind == "docker-archive":
        assert location.path is not None
        if location.archive_index is not None:
            raise TransportError(
                f"{location}: @N picks an image to read; to write, name the image with NAME:TAG"
            )
        return ArchiveDestination(location.path, location.reference)

    assert location.reference is not None
    return RegistryDestination(location.reference, (ctx or TransportContext()).registry_client())
