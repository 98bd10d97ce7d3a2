"""Assemble a multi-platform index (OCI image index or Docker manifest list).

Entries keep the order they are given in (spec order), each with the platform read from its
image's config. Index annotations get `org.opencontainers.image.{created,source,revision}`
from GitLab CI's predefined variables when present; explicit annotations win.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from builder.errors import UsageError
from builder.oci import mediatypes as mt
from builder.oci.models import ImageIndex, Platform
from builder.oci.raw import RawManifest

log = logging.getLogger(__name__)

IndexType = Literal["oci", "docker"]

# GitLab predefined variable(s) -> OCI annotation, first one set wins.
CI_ANNOTATIONS: dict[str, tuple[str, ...]] = {
    "org.opencontainers.image.created": ("CI_PIPELINE_CREATED_AT", "CI_COMMIT_TIMESTAMP"),
    "org.opencontainers.image.source": ("CI_PROJECT_URL",),
    "org.opencontainers.image.revision": ("CI_COMMIT_SHA",),
}


ATTESTATION_ENTRY = {"vnd.docker.reference.type": "attestation-manifest"}
"""The annotation that marks an index entry as BuildKit's attestation manifest of an image."""


@dataclass(frozen=True)
class IndexEntry:
    manifest: RawManifest
    """The platform's image manifest (must be an image, not an index)."""
    platform: Platform
    annotations: Mapping[str, str] = field(default_factory=dict)


def ci_annotations(env: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, variables in CI_ANNOTATIONS.items():
        value = next((env[v] for v in variables if env.get(v)), None)
        if value:
            found[key] = value
    return found


def parse_annotations(pairs: Sequence[str]) -> dict[str, str]:
    """`key=value` strings (from --annotation) as a mapping."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid annotation {pair!r}: expected key=value")
        result[key] = value
    return result


def assemble_index(
    entries: Sequence[IndexEntry],
    index_type: IndexType = "oci",
    annotations: Mapping[str, str] | None = None,
) -> RawManifest:
    if not entries:
        raise UsageError("an index needs at least one image")
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.manifest.is_index:
            raise UsageError(
                f"{entry.manifest.digest} is an index; an index entry must be an image"
            )
        if ATTESTATION_ENTRY.items() <= entry.annotations.items():
            continue  # BuildKit's attestation manifests: all unknown/unknown by design
        name = str(entry.platform)
        if name in seen and seen[name] != entry.manifest.digest:
            log.warning("two images for platform %s in the index; clients take the first", name)
        seen[name] = entry.manifest.digest
    docker = index_type == "docker"
    if docker and (annotations or any(e.annotations for e in entries)):
        log.warning("a Docker manifest list cannot carry annotations; they are left out")
    descriptors = [
        entry.manifest.descriptor(
            platform=entry.platform,
            annotations=None if docker or not entry.annotations else dict(entry.annotations),
        )
        for entry in entries
    ]
    index = ImageIndex(
        mediaType=mt.DOCKER_MANIFEST_LIST if docker else mt.OCI_INDEX,
        manifests=descriptors,
        annotations=None if docker or not annotations else dict(annotations),
    )
    return RawManifest.of(index)


def index_annotations(explicit: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """CI-derived annotations overlaid with the user's own."""
    return {**ci_annotations(env), **explicit}
