"""One attestation as an OCI artifact: an image manifest with `artifactType`
application/vnd.in-toto+json, the empty config, one layer (the statement, or its DSSE
envelope when signed) and `subject` = the platform image it describes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from builder.attest.statement import (
    DSSE_MEDIA_TYPE,
    IN_TOTO_MEDIA_TYPE,
    PREDICATE_TYPE_ANNOTATION,
)
from builder.oci import mediatypes as mt
from builder.oci.models import Descriptor, ImageManifest
from builder.oci.raw import RawManifest

Sign = Callable[[bytes, str], bytes]
"""(payload, payload type) -> DSSE envelope JSON (builder.attest.dsse supplies one)."""

EMPTY_JSON = b"{}"
EMPTY_CONFIG = Descriptor.model_validate(
    Descriptor.of_bytes(EMPTY_JSON, mt.OCI_EMPTY).to_dict() | {"data": "e30="}
)


@dataclass(frozen=True)
class Artifact:
    """An attestation ready to store: its manifest and the two blobs it names."""

    manifest: RawManifest
    layer: bytes
    predicate_type: str

    @property
    def blobs(self) -> tuple[tuple[Descriptor, bytes], ...]:
        layer = self.manifest.manifest().layers[0]
        return ((EMPTY_CONFIG, EMPTY_JSON), (layer, self.layer))

    def descriptor(self) -> Descriptor:
        """How a referrers index lists it."""
        return self.manifest.descriptor(
            artifactType=IN_TOTO_MEDIA_TYPE,
            annotations={PREDICATE_TYPE_ANNOTATION: self.predicate_type},
        )


def attestation_artifact(
    statement: bytes, predicate_type: str, subject: Descriptor, sign: Sign | None = None
) -> Artifact:
    """The artifact holding `statement` about `subject`; signed as a DSSE envelope when
    `sign` is given."""
    layer = sign(statement, IN_TOTO_MEDIA_TYPE) if sign else statement
    annotations = {PREDICATE_TYPE_ANNOTATION: predicate_type}
    manifest = ImageManifest(
        mediaType=mt.OCI_MANIFEST,
        artifactType=IN_TOTO_MEDIA_TYPE,
        config=EMPTY_CONFIG,
        layers=[Descriptor.of_bytes(
            layer, DSSE_MEDIA_TYPE if sign else IN_TOTO_MEDIA_TYPE, annotations=annotations
        )],
        subject=Descriptor(mediaType=subject.media_type, digest=subject.digest, size=subject.size),
        annotations=annotations,
    )
    return Artifact(RawManifest.of(manifest), layer, predicate_type)
