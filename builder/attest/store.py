"""Where attestations live next to their image, written and read the same way.

Registry: each artifact manifest is pushed by digest; a registry with the OCI 1.1 referrers
API answers `OCI-Subject` and indexes it itself, any other gets the referrers tag schema —
an OCI index tagged `sha256-<subject hex>` listing the subject's referrers, updated by
read-modify-write. Readers ask the API first and read the tag when it answers 404.

OCI layout: the artifact manifest is an untagged entry of index.json (with its artifactType
and predicate-type annotation), which is what `oras attach --oci-layout` writes and what
`oras discover --oci-layout DIR:TAG` finds (oras walks index.json's manifests for subjects);
a tag-schema entry would be one more named image that `oras` does not read and that skopeo
lists beside the real ones. Tools that pick an image by name (skopeo, umoci) never see it.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from builder.attest.artifact import Artifact
from builder.attest.statement import (
    DSSE_MEDIA_TYPE,
    IN_TOTO_MEDIA_TYPE,
    PREDICATE_TYPE_ANNOTATION,
)
from builder.errors import NotFoundError
from builder.oci import mediatypes as mt
from builder.oci.digest import hex_of
from builder.oci.models import Descriptor, ImageIndex
from builder.oci.raw import RawManifest
from builder.reference import Reference
from builder.registry.client import RegistryClient
from builder.transports.base import verified_file_chunks, write_atomically
from builder.transports.layout import Layout
from builder.transports.names import Location

Stored = Literal["referrers API", "tag schema", "tag schema, deferred", "layout"]
_tag_schema_turns = threading.Lock()  # one read-modify-write of a referrers tag at a time


def referrers_tag(subject_digest: str) -> str:
    """The referrers tag schema's tag for a subject: `sha256-<hex>`."""
    return "sha256-" + hex_of(subject_digest)


# ------------------------------------------------------------------------------- writing


def attach(artifact: Artifact, subject: str, where: Location, client: RegistryClient, *,
           referrers_tag: bool = True) -> Stored:
    """Store `artifact` (about the manifest `subject`) beside its image at `where`
    (docker://REPO or oci:DIR). Failures raise: an attestation asked for is never dropped.
    `referrers_tag=False`: on a registry without the referrers API the artifact is pushed
    but not listed in the subject's tag (the caller attaches it again when it may)."""
    if where.kind == "oci":
        assert where.path is not None
        _attach_to_layout(artifact, Layout(where.path))
        return "layout"
    assert where.kind == "docker" and where.reference is not None
    repo = where.reference.repository_ref()
    (config, empty), (layer, statement) = artifact.blobs
    # Both blobs at once; the statement is new (no HEAD first), the empty config often not.
    with ThreadPoolExecutor(max_workers=1) as pool:
        config_done = pool.submit(client.upload_blob, repo, config, partial(io.BytesIO, empty))
        client.upload_blob(repo, layer, partial(io.BytesIO, statement), known_missing=True)
        config_done.result()
    if client.put_referrer(repo, artifact.manifest, subject):
        return "referrers API"
    if not referrers_tag:
        return "tag schema, deferred"
    _add_to_tag_schema(client, repo, subject, artifact.descriptor())
    return "tag schema"


def tag_deferred(where: Location, subject: str, artifacts: Sequence[Descriptor],
                 client: RegistryClient) -> None:
    """List artifacts attached with `referrers_tag=False` in `subject`'s referrers tag, where
    the registry has no referrers API (one that has it indexed them when they were pushed)."""
    if where.kind != "docker" or where.reference is None or not artifacts:
        return
    repo = where.reference.repository_ref()
    if client.get_referrers(repo, subject, IN_TOTO_MEDIA_TYPE) is not None:
        return
    for desc in artifacts:
        _add_to_tag_schema(client, repo, subject, desc)


def _add_to_tag_schema(
    client: RegistryClient, repo: Reference, subject: str, entry: Descriptor
) -> None:
    tag = repo.with_tag(referrers_tag(subject))
    with _tag_schema_turns:
        try:
            index = client.get_manifest(tag, accept=mt.OCI_INDEX).index()
        except NotFoundError:
            index = ImageIndex(manifests=[])
        if any(e.digest == entry.digest for e in index.manifests):
            return
        updated = index.model_copy(update={"manifests": [*index.manifests, entry]})
        client.put_manifest(tag, RawManifest.of(updated))


def _attach_to_layout(artifact: Artifact, layout: Layout) -> None:
    layout.check()
    for desc, content in (*artifact.blobs, (artifact.descriptor(), artifact.manifest.data)):
        path = layout.blob_path(desc.digest)
        if not path.is_file():
            write_atomically(path, [content])
    entry = artifact.descriptor()
    with layout.locked():
        index = layout.read_index()
        if any(e.digest == entry.digest for e in index.manifests):
            return
        index = index.model_copy(update={"manifests": [*index.manifests, entry]})
        write_atomically(layout.root / "index.json", [index.to_json()])


# ------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class AttestationRecord:
    """One attestation attached to one platform image."""

    platform: str | None
    """os/arch[/variant] of the image it describes (None: a single-image reference)."""
    subject: str
    """The platform image's manifest digest."""
    artifact: Descriptor
    """The artifact manifest (referrers format) or BuildKit's attestation manifest."""
    layer: Descriptor
    """The statement or DSSE envelope inside it."""
    predicate_type: str
    stored: str
    """"referrers API", "tag schema", "layout" or "buildkit" (an index entry)."""

    @property
    def media_type(self) -> str:
        return self.layer.media_type

    @property
    def size(self) -> int:
        return self.layer.size

    @property
    def signed(self) -> bool:
        return self.layer.media_type == DSSE_MEDIA_TYPE


def referrers(
    where: Location, subject: str, client: RegistryClient
) -> tuple[list[Descriptor], Stored]:
    """The in-toto artifacts that name `subject`, and how they were found."""
    if where.kind == "oci":
        assert where.path is not None
        return _layout_referrers(Layout(where.path), subject), "layout"
    assert where.kind == "docker" and where.reference is not None
    repo = where.reference.repository_ref()
    index = client.get_referrers(repo, subject, IN_TOTO_MEDIA_TYPE)
    stored: Stored = "referrers API"
    if index is None:
        stored = "tag schema"
        try:
            tag = repo.with_tag(referrers_tag(subject))
            index = client.get_manifest(tag, accept=mt.OCI_INDEX).index()
        except NotFoundError:
            return [], stored
    return [e for e in index.manifests if e.artifact_type == IN_TOTO_MEDIA_TYPE], stored


def _layout_referrers(layout: Layout, subject: str) -> list[Descriptor]:
    found = []
    for entry in layout.read_index().manifests:
        if entry.artifact_type != IN_TOTO_MEDIA_TYPE or entry.media_type != mt.OCI_MANIFEST:
            continue
        manifest = layout.read_manifest(entry.digest, entry.media_type).manifest()
        if manifest.subject is not None and manifest.subject.digest == subject:
            found.append(entry)
    return found


class ManifestReader:
    """Reads manifests by descriptor from a registry repository or a layout."""

    def __init__(self, where: Location, client: RegistryClient) -> None:
        self.where, self.client = where, client

    def __call__(self, desc: Descriptor) -> RawManifest:
        if self.where.kind == "oci":
            assert self.where.path is not None
            return Layout(self.where.path).read_manifest(desc.digest, desc.media_type)
        assert self.where.reference is not None
        ref = self.where.reference.repository_ref().with_digest(desc.digest)
        return self.client.get_manifest(ref)


def records_of(
    artifacts: Iterable[Descriptor],
    read: ManifestReader,
    platform: str | None,
    subject: str,
    stored: str,
) -> list[AttestationRecord]:
    """One record per in-toto layer of each artifact manifest."""
    records = []
    for desc in artifacts:
        manifest = read(desc).manifest()
        for layer in manifest.layers:
            if layer.media_type not in (IN_TOTO_MEDIA_TYPE, DSSE_MEDIA_TYPE):
                continue
            predicate = (layer.annotations or {}).get(PREDICATE_TYPE_ANNOTATION) or (
                manifest.annotations or {}
            ).get(PREDICATE_TYPE_ANNOTATION, "")
            records.append(AttestationRecord(platform, subject, desc, layer, predicate, stored))
    return records


def attached_artifacts(
    where: Location, subject: str, client: RegistryClient,
    known: Sequence[Descriptor] | None = None,
) -> Sequence[Artifact]:
    """The artifacts stored about `subject` at `where`, whole (to copy them elsewhere):
    those found by the referrers API or tag, or the `known` ones (pushed with their tag
    deferred, so nothing finds them yet)."""
    found = list(known) if known is not None else referrers(where, subject, client)[0]
    read = ManifestReader(where, client)
    artifacts = []
    for desc in found:
        raw = read(desc)
        layer = raw.manifest().layers[0]
        predicate = (desc.annotations or {}).get(PREDICATE_TYPE_ANNOTATION, "")
        artifacts.append(Artifact(raw, read_blob(where, layer, client), predicate))
    return artifacts


def read_blob(where: Location, desc: Descriptor, client: RegistryClient) -> bytes:
    """A small blob (a statement or envelope), verified against its descriptor."""
    if where.kind == "oci":
        assert where.path is not None
        layout = Layout(where.path)
        with verified_file_chunks(layout.blob_path(desc.digest), desc, desc.digest) as chunks:
            return b"".join(chunks)
    assert where.reference is not None
    with client.open_blob(where.reference.repository_ref(), desc) as chunks:
        return b"".join(chunks)


def copy_attestations(
    source: Location, subject: str, target: Location, client: RegistryClient,
    known: Sequence[Descriptor] | None = None,
) -> int:
    """Attach to `target` every attestation stored about `subject` at `source` (the image
    was copied there), or the `known` artifacts; returns how many. Same bytes, so a
    signature stays valid."""
    artifacts = attached_artifacts(source, subject, client, known)
    for artifact in artifacts:
        attach(artifact, subject, target, client)
    return len(artifacts)
