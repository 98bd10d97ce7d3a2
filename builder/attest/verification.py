"""`multiarch verify`: every attestation of every platform image checked against one public
key — its DSSE signature, that its statement names the platform image it is attached to (and
the predicate type its annotations claim), and that its bytes match the digest the artifact
manifest records. A platform image without any attestation fails too.

Unsigned attestations fail unless allowed: an unsigned statement proves nothing about who
made it, and anyone who may push to the repository can attach one (cosign's and notation's
verify likewise fail when no signature by the key is found).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from builder.attest.dsse import PublicKey, parse_envelope, verify
from builder.attest.buildkit import ATTESTATION_MANIFEST, REFERENCE_TYPE
from builder.attest.inspect import (
    list_attestations,
    read_attestation,
)
from builder.attest.statement import IN_TOTO_MEDIA_TYPE
from builder.attest.store import AttestationRecord
from builder.errors import DigestMismatchError, NotFoundError, SignatureError
from builder.transports import TransportContext, open_source

Status = Literal["verified", "unsigned", "failed"]
IN_TOTO_STATEMENTS = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")


@dataclass(frozen=True)
class Attached:
    """One attestation and its bytes as read (None, with `unreadable` saying why, when they
    could not be read or did not match their digest)."""

    record: AttestationRecord
    data: bytes | None
    unreadable: str | None = None

    @property
    def keyids(self) -> tuple[str, ...]:
        """The key ids its signatures name (empty when unsigned or unreadable)."""
        if not self.record.signed or self.data is None:
            return ()
        try:
            return tuple(s.keyid or "" for s in parse_envelope(self.data).signatures)
        except SignatureError:
            return ()


@dataclass(frozen=True)
class ImageAttestations:
    """What is attached to an image: its platform images and their attestations."""

    image: str
    digest: str
    platforms: tuple[tuple[str | None, str], ...]
    """(os/arch[/variant], or None for a single image; manifest digest) of each image."""
    attestations: tuple[Attached, ...]


@dataclass(frozen=True)
class Verdict:
    """One attestation's outcome: `problem` says why it failed (None when it did not)."""

    attached: Attached
    status: Status
    problem: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    found: ImageAttestations
    keyid: str
    verdicts: tuple[Verdict, ...]
    failures: tuple[str, ...]
    """One line per failure: a platform without attestations, an attestation that failed."""

    @property
    def ok(self) -> bool:
        return not self.failures


def read_attestations(image: str, ctx: TransportContext) -> ImageAttestations:
    """Every attestation of `image` (docker://REF or oci:DIR[:TAG]) with its bytes."""
    digest, platforms = _platform_images(image, ctx)
    return ImageAttestations(
        image, digest, platforms,
        tuple(_read(image, record, ctx) for record in list_attestations(image, ctx)),
    )


def verify_attestations(
    found: ImageAttestations, key: PublicKey, *, allow_unsigned: bool = False
) -> VerifyReport:
    """Check every attestation with `key`; every platform image must have one."""
    verdicts = tuple(_judge(attached, key, allow_unsigned) for attached in found.attestations)
    failures = [
        f"{platform or 'the image'} ({subject}): no attestation attached"
        for platform, subject in found.platforms
        if not any(a.record.subject == subject for a in found.attestations)
    ]
    failures += [
        f"{v.attached.record.platform or 'the image'} "
        f"{v.attached.record.predicate_type or '(no predicate type)'} "
        f"({v.attached.record.artifact.digest}): {v.problem}"
        for v in verdicts
        if v.problem is not None
    ]
    return VerifyReport(found, key.keyid, verdicts, tuple(failures))


def _read(image: str, record: AttestationRecord, ctx: TransportContext) -> Attached:
    try:
        return Attached(record, read_attestation(image, record, ctx))
    except DigestMismatchError:
        return Attached(record, None, "its bytes do not match the layer digest")
    except NotFoundError:
        return Attached(record, None, f"its layer {record.layer.digest} is missing")


def _judge(attached: Attached, key: PublicKey, allow_unsigned: bool) -> Verdict:
    record, data = attached.record, attached.data
    if data is None:
        return Verdict(attached, "failed", attached.unreadable)
    if not record.signed:
        problem = _statement_problem(record, data)
        if problem is None and not allow_unsigned:
            problem = "unsigned (--allow-unsigned accepts unsigned attestations)"
        return Verdict(attached, "unsigned" if problem is None else "failed", problem)
    try:
        payload_type, payload = verify(data, key)
    except SignatureError as err:
        return Verdict(attached, "failed", err.message)
    if payload_type != IN_TOTO_MEDIA_TYPE:
        return Verdict(attached, "failed", f"the payload type is {payload_type!r}")
    problem = _statement_problem(record, payload)
    return Verdict(attached, "verified" if problem is None else "failed", problem)


def _statement_problem(record: AttestationRecord, payload: bytes) -> str | None:
    """Why the statement does not describe the image it is attached to (None if it does)."""
    try:
        document = json.loads(payload)
    except ValueError:
        return "the statement is not JSON"
    if not isinstance(document, dict) or document.get("_type") not in IN_TOTO_STATEMENTS:
        return "not an in-toto statement"
    algorithm, _, value = record.subject.partition(":")
    subjects = document.get("subject")
    named = [s.get("digest", {}).get(algorithm) for s in subjects or [] if isinstance(s, dict)]
    if value not in named:
        return f"the statement's subject is {_digests(named, algorithm)}, not {record.subject}"
    if record.predicate_type and document.get("predicateType") != record.predicate_type:
        return (
            f"the statement's predicate type is {document.get('predicateType')!r}, "
            f"its annotation says {record.predicate_type!r}"
        )
    return None


def _digests(values: list[object], algorithm: str) -> str:
    return ", ".join(f"{algorithm}:{v}" for v in values) or "missing"


def _platform_images(
    image: str, ctx: TransportContext
) -> tuple[str, tuple[tuple[str | None, str], ...]]:
    """The top manifest's digest and its platform images (BuildKit's attestation entries are
    not images)."""
    source = open_source(image, ctx)
    try:
        top = source.get_manifest()
    finally:
        source.close()
    if not top.is_index:
        return top.digest, ((None, top.digest),)
    return top.digest, tuple(
        (str(entry.platform) if entry.platform else None, entry.digest)
        for entry in top.index().manifests
        if (entry.annotations or {}).get(REFERENCE_TYPE) != ATTESTATION_MANIFEST
    )
