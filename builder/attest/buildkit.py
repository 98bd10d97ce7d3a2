"""`--attest-format buildkit`: BuildKit's own layout, for tools that read only that (docker
scout, `imagetools inspect --format '{{json .Provenance}}'`). The statements of one image are
the layers of one "attestation manifest" (platform unknown/unknown), listed in the image's
index beside it with `vnd.docker.reference.type: attestation-manifest` and the image's digest.

A tagged destination gets that index under its tag (the image itself stays by digest); a
by-digest push gets the attestation manifest only, and the coordinator lists it in the index
it assembles.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from functools import partial

from builder.attest.statement import IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION
from builder.oci import mediatypes as mt
from builder.oci.models import Descriptor, ImageIndex, ImageManifest, Platform
from builder.oci.raw import RawManifest
from builder.registry.client import RegistryClient
from builder.transports import TransportContext, open_destination
from builder.transports.names import Location

REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"
UNKNOWN_PLATFORM = Platform(os="unknown", architecture="unknown")


def attestation_manifest(
    statements: Sequence[tuple[str, bytes]],
) -> tuple[RawManifest, list[tuple[Descriptor, bytes]]]:
    """BuildKit's attestation manifest of (predicate type, statement) pairs, and its blobs."""
    layers = [
        (Descriptor.of_bytes(data, IN_TOTO_MEDIA_TYPE,
                             annotations={PREDICATE_TYPE_ANNOTATION: predicate_type}), data)
        for predicate_type, data in statements
    ]
    config_data = json.dumps({
        "architecture": "unknown", "os": "unknown", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [desc.digest for desc, _ in layers]},
    }, separators=(",", ":")).encode()
    config = Descriptor.of_bytes(config_data, mt.OCI_CONFIG)
    manifest = ImageManifest(config=config, layers=[desc for desc, _ in layers])
    return RawManifest.of(manifest), [(config, config_data), *layers]


def index_entry(raw: RawManifest, subject: str) -> Descriptor:
    """How an index lists the attestation manifest of the image `subject`."""
    return raw.descriptor(
        platform=UNKNOWN_PLATFORM,
        annotations={REFERENCE_DIGEST: subject, REFERENCE_TYPE: ATTESTATION_MANIFEST},
    )


def attach_buildkit_attestations(
    statements: Sequence[tuple[str, bytes]],
    subject: Descriptor,
    platform: Platform,
    where: Location,
    client: RegistryClient,
) -> Descriptor:
    """Write the attestation manifest at `where`; a tagged destination's tag then names the
    index [image, attestation manifest]. Returns the attestation manifest's index entry."""
    raw, blobs = attestation_manifest(statements)
    destination = open_destination(where, TransportContext(_client=client))
    try:
        for desc, content in blobs:
            if not destination.has_blob(desc):
                destination.put_blob(desc, partial(io.BytesIO, content))
        destination.put_manifest(raw, None, root=False)
        entry = index_entry(raw, subject.digest)
        if destination.tag:
            image = subject.model_copy(update={"platform": platform})
            index = RawManifest.of(ImageIndex(manifests=[image, entry]))
            destination.put_manifest(index, destination.tag)
    finally:
        destination.close()
    return entry
