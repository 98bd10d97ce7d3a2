"""An image as the builder holds it before it is written: config plus a stack of layers."""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.fs.rootfs import Rootfs
from builder.oci import mediatypes as mt
from builder.oci.models import Descriptor, ImageConfig, ImageManifest
from builder.oci.raw import RawManifest


@dataclass(frozen=True)
class BuiltImage:
    """The result of a build before it is written anywhere."""

    config: ImageConfig
    rootfs: Rootfs
    annotations: dict[str, str] = field(default_factory=dict)

    def config_bytes(self) -> bytes:
        return self.config.to_json()

    def manifest(self) -> RawManifest:
        data = self.config_bytes()
        config_desc = Descriptor.of_bytes(data, mt.OCI_CONFIG)
        layers = [_oci_layer(layer.descriptor) for layer in self.rootfs.layers]
        manifest = ImageManifest(
            mediaType=mt.OCI_MANIFEST, config=config_desc, layers=layers,
            annotations=dict(self.annotations) or None,
        )
        return RawManifest.of(manifest)


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
