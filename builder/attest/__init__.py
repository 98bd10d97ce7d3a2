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
    from builder.attest.statement import Predicate, statement
    from builder.attest.store import AttestationRecord
    from builder.attest.verification import (
        Attached,
        ImageAttestations,
        VerifyReport,
        read_attestations,
        verify_attestations,
    )

_HOMES = {
    "AttestationRecord": "store", "Predicate": "statement", "list_attestations": "inspect",
    "read_attestation": "inspect", "statement": "statement",
    "SIGN_KEY_ENV": "dsse", "PublicKey": "dsse", "SigningKey": "dsse",
    "key_reference": "dsse", "load_public_key": "dsse", "load_signing_key": "dsse",
    "Attached": "verification", "ImageAttestations": "verification",
    "VerifyReport": "verification",
    "read_attestations": "verification", "verify_attestations": "verification",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'builder.attest' has no attribute {name!r}")
    return getattr(importlib.import_module(f"builder.attest.{home}"), name)


__all__ = [
    "SIGN_KEY_ENV", "Attached", "AttestationRecord", "ImageAttestations", "Predicate", "PublicKey",
    "SigningKey", "VerifyReport", "key_reference", "list_attestations", "load_public_key",
    "load_signing_key",
    "read_attestation", "read_attestations", "statement", "verify_attestations",
]
