"""A filesystem as the builder holds it: a stack of layers, each layer's blob in the store and
its extracted directory ready to be an overlay lower dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.oci.models import Descriptor


@dataclass(frozen=True)
class Layer:
    descriptor: Descriptor
    diff_id: str
    directory: Path | None
    """The layer's files (overlay whiteouts), usable as a read-only lower dir; None when
    the build runs without overlayfs (walk snapshots)."""


@dataclass(frozen=True)
class Rootfs:
    """A filesystem as a stack of layers, bottom first."""

    layers: tuple[Layer, ...] = ()

    def plus(self, layer: Layer) -> Rootfs:
        return Rootfs(self.layers + (layer,))

    @property
    def lowers_top_first(self) -> list[Path]:
        dirs = [layer.directory for layer in reversed(self.layers)]
        if any(d is None for d in dirs):
            raise AssertionError("layer not extracted for overlay use")
        return [d for d in dirs if d is not None]
