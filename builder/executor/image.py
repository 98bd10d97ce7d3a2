"""An image as the builder holds it: config plus layers, each layer's blob in the store and
its extracted directory ready to be an overlay lower dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.oci import mediatypes as mt
from builder.oci.models import Descriptor, ImageConfig, ImageManifest
from builder.oci.raw import RawManifest


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

    def plus(self, layer: Layer) -> "Rootfs":
        return Rootfs(self.layers + (layer,))

    @property
    def lowers_top_first(self) -> list[Path]:
        dirs = [layer.directory for layer in reversed(self.layers)]
        assert all(d is not None for d in dirs), "layer not extracted for overlay use"
        return dirs  # type: ignore[return-value]


@dataclass(frozen=True)
class BuiltImage:
    """The result of a build before it is written anywhere."""

    config: ImageConfig
    rootfs: Rootfs

    def config_bytes(self) -> bytes:
        return self.config.to_json()

    def manifest(self) -> RawManifest:
        data = self.config_bytes()
        config_desc = Descriptor.of_bytes(data, mt.OCI_CONFIG)
        layers = [_oci_layer(layer.descriptor) for layer in self.rootfs.layers]
        return RawManifest.of(ImageManifest(mediaType=mt.OCI_MANIFEST, config=config_desc, layers=layers))


_TO_OCI = {
    mt.DOCKER_LAYER_GZIP: mt.OCI_LAYER_GZIP,
    mt.DOCKER_LAYER_FOREIGN_GZIP: mt.OCI_LAYER_NONDIST_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": mt.OCI_LAYER,
}


def _oci_layer(desc: Descriptor) -> Descriptor:
    """Base layers pushed with Docker media types get their OCI names (same bytes), as
    BuildKit does for an OCI manifest."""
    media_type = _TO_OCI.get(desc.media_type, desc.media_type)
    return Descriptor(mediaType=media_type, digest=desc.digest, size=desc.size, urls=desc.urls)
