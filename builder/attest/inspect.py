"""What is attached to an image, per platform: the referrers of each platform image
(referrers API, tag schema or OCI layout) and BuildKit's attestation-manifest entries."""

from __future__ import annotations

from builder.attest.buildkit import ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE
from builder.attest.statement import PREDICATE_TYPE_ANNOTATION
from builder.attest.store import (
    AttestationRecord,
    ManifestReader,
    read_blob,
    records_of,
    referrers,
)
from builder.errors import UsageError
from builder.oci.models import Descriptor
from builder.oci.raw import RawManifest
from builder.transports import TransportContext, open_source, parse_location
from builder.transports.names import Location


def list_attestations(image: str, ctx: TransportContext) -> list[AttestationRecord]:
    """Every attestation of `image` (docker://REF or oci:DIR[:TAG]): for an index, those of
    each platform image, in index order; for a single image, its own."""
    where = _where(image)
    client = ctx.registry_client()
    top = _top_manifest(where, ctx)
    read = ManifestReader(where, client)
    if not top.is_index:
        found, stored = referrers(where, top.digest, client)
        return records_of(found, read, None, top.digest, stored)
    entries = top.index().manifests
    platforms = {e.digest: str(e.platform) if e.platform else None for e in entries}
    records: list[AttestationRecord] = []
    for entry in entries:
        annotations = entry.annotations or {}
        if annotations.get(REFERENCE_TYPE) == ATTESTATION_MANIFEST:
            subject = annotations.get(REFERENCE_DIGEST, "")
            records += _buildkit_records(entry, read, platforms.get(subject), subject)
            continue
        found, stored = referrers(where, entry.digest, client)
        records += records_of(found, read, platforms[entry.digest], entry.digest, stored)
    return records


def read_attestation(image: str, record: AttestationRecord, ctx: TransportContext) -> bytes:
    """The statement (or DSSE envelope) a record describes, verified against its digest."""
    return read_blob(_where(image), record.layer, ctx.registry_client())


def _buildkit_records(
    entry: Descriptor, read: ManifestReader, platform: str | None, subject: str
) -> list[AttestationRecord]:
    records = []
    for layer in read(entry).manifest().layers:
        predicate = (layer.annotations or {}).get(PREDICATE_TYPE_ANNOTATION)
        if predicate:
            records.append(
                AttestationRecord(platform, subject, entry, layer, predicate, "buildkit")
            )
    return records


def _where(image: str) -> Location:
    location = parse_location(image)
    if location.kind not in ("docker", "oci"):
        raise UsageError(f"{image}: attestations are read from a registry or an OCI layout")
    return location


def _top_manifest(where: Location, ctx: TransportContext) -> RawManifest:
    source = open_source(where, ctx)
    try:
        return source.get_manifest()
    finally:
        source.close()
