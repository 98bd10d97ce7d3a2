"""The in-toto Statement v1 envelope every attestation shares, and the media types and
annotation names of its OCI storage."""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from typing import Any, Mapping

from builder.oci.digest import check_digest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
IN_TOTO_MEDIA_TYPE = "application/vnd.in-toto+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type"

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SPDX_DOCUMENT = "https://spdx.dev/Document"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"


@dataclass(frozen=True)
class Predicate:
    """What an attestation says about an image: its type URI and its JSON-ready body."""

    predicate_type: str
    body: Mapping[str, Any]


def statement(predicate: Predicate, subject_name: str, subject_digest: str) -> bytes:
    """The in-toto Statement v1 JSON naming one subject (an image manifest by digest)."""
    algorithm, _, value = check_digest(subject_digest).partition(":")
    document = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {algorithm: value}}],
        "predicateType": predicate.predicate_type,
        "predicate": predicate.body,
    }
    return json.dumps(
        document, separators=(",", ":"), ensure_ascii=False, default=_plain_mapping
    ).encode()


def _plain_mapping(value: object) -> dict[str, Any]:
    """json's hook for read-only mappings (a frozen predicate's body may hold them)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def multiarch_version() -> str:
    """The version attestations name their builder / creating tool by."""
    try:
        return importlib.metadata.version("multiarch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
