"""Attestations of a built image (issue 17): in-toto statements (SLSA provenance, SBOMs) stored
as OCI artifacts whose `subject` is the platform image.

Importing the package imports nothing heavy; each producer (provenance, SBOM, signing) loads
its libraries only when a build asks for it. The names below are its public set (re-exported
lazily): what `multiarch manifest inspect --attestations` and `multiarch verify` read with.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.attest.dsse import (
        SIGN_KEY_ENV,
        PublicKey,
        SigningKey,
        key_reference,
        load_public_key,
        load_signing_key,
    )
    from builder.attest.inspect import list_attestations, read_attestation
    from builder.attest.statement import IN_TOTO_MEDIA_TYPE, Predicate, statement
    from builder.attest.store import AttestationRecord, copy_attestations, tag_deferred
    from builder.attest.verification import (
        Attached,
        ImageAttestations,
        VerifyReport,
        read_attestations,
        verify_attestations,
    )
    from builder.option_choices import AttestFormat, Provenance, parse_provenance, parse_sbom

_HOMES = {
    "AttestationRecord": "builder.attest.store", "AttestFormat": "builder.option_choices",
    "Predicate": "builder.attest.statement", "Provenance": "builder.option_choices",
    "IN_TOTO_MEDIA_TYPE": "builder.attest.statement",
    "copy_attestations": "builder.attest.store", "list_attestations": "builder.attest.inspect",
    "tag_deferred": "builder.attest.store",
    "parse_provenance": "builder.option_choices", "parse_sbom": "builder.option_choices",
    "read_attestation": "builder.attest.inspect",
    "statement": "builder.attest.statement",
    "SIGN_KEY_ENV": "builder.attest.dsse", "PublicKey": "builder.attest.dsse",
    "SigningKey": "builder.attest.dsse", "key_reference": "builder.attest.dsse",
    "load_public_key": "builder.attest.dsse", "load_signing_key": "builder.attest.dsse",
    "Attached": "builder.attest.verification", "ImageAttestations": "builder.attest.verification",
    "VerifyReport": "builder.attest.verification",
    "read_attestations": "builder.attest.verification",
    "verify_attestations": "builder.attest.verification",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'builder.attest' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "IN_TOTO_MEDIA_TYPE", "SIGN_KEY_ENV", "Attached", "AttestFormat", "AttestationRecord",
    "ImageAttestations", "Predicate", "Provenance", "PublicKey", "SigningKey", "VerifyReport",
    "copy_attestations", "key_reference", "list_attestations", "load_public_key",
    "load_signing_key", "parse_provenance", "parse_sbom", "read_attestation",
    "read_attestations", "statement", "tag_deferred", "verify_attestations",
]
