"""in-toto Statement v1: shape, subject digest split, read-only predicate bodies, bad digests."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from builder.attest.statement import SLSA_PROVENANCE_V1, Predicate, statement
from builder.errors import DigestMismatchError

DIGEST = "sha256:" + "ab" * 32


def test_statement_names_subject_type_and_predicate() -> None:
    body = {"buildDefinition": {"buildType": "x"}, "runDetails": {}}
    document = json.loads(statement(Predicate(SLSA_PROVENANCE_V1, body), "reg/app", DIGEST))
    assert document == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "reg/app", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": body,
    }


def test_read_only_mappings_serialise() -> None:
    body = MappingProxyType({"inner": MappingProxyType({"k": "v"})})
    document = json.loads(statement(Predicate("urn:t", body), "n", DIGEST))
    assert document["predicate"] == {"inner": {"k": "v"}}


def test_statement_is_deterministic_and_compact() -> None:
    predicate = Predicate("urn:t", {"b": 1, "a": [1, 2]})
    first = statement(predicate, "n", DIGEST)
    assert first == statement(predicate, "n", DIGEST)
    assert b" " not in first


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "0" * 32, ""])
def test_malformed_subject_digest_is_refused(digest: str) -> None:
    with pytest.raises(DigestMismatchError):
        statement(Predicate("urn:t", {}), "n", digest)
