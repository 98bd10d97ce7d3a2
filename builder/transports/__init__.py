"""Where an image lives, one interface each: docker://REF (registry, the default),
oci:DIR[:TAG] (OCI image layout), docker-archive:FILE[:REF] (`docker save` tar)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.transports.base import ImageDestination, ImageSource, TransportContext
    from builder.transports.copy import CopyResult, copy_image, fetch_child
    from builder.transports.names import Location, parse_location
    from builder.transports.opening import open_destination, open_source
    from builder.transports.resolve import ResolvedImage, read_config, resolve_image

_HOMES = {
    "CopyResult": "copy", "ImageDestination": "base", "ImageSource": "base", "Location": "names",
    "ResolvedImage": "resolve", "TransportContext": "base", "copy_image": "copy", "fetch_child": "copy",
    "open_destination": "opening", "open_source": "opening", "parse_location": "names",
    "read_config": "resolve", "resolve_image": "resolve",
}


def __getattr__(name: str) -> Any:
    # Lazy re-exports: importing builder.transports.names (say) must not import httpx.
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'builder.transports' has no attribute {name!r}")
    return getattr(importlib.import_module(f"builder.transports.{home}"), name)


__all__ = [
    "CopyResult",
    "ImageDestination",
    "ImageSource",
    "Location",
    "ResolvedImage",
    "TransportContext",
    "copy_image",
    "fetch_child",
    "open_destination",
    "open_source",
    "parse_location",
    "read_config",
    "resolve_image",
]
