"""Put a multi-platform index and its images into one destination.

Every image is copied into the destination first (a registry on the same host mounts the
blobs; a source already in the target repository moves nothing) with the attestations that
refer to it, then checked to be there,
and only then is the index written under each tag: a reader never sees an index whose
entries are missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass

from builder.attest import copy_attestations, tag_deferred
from builder.errors import TransportError
from builder.oci.models import Descriptor
from builder.oci.raw import RawManifest
from builder.transports import (
    ImageSource,
    Location,
    TransportContext,
    copy_image,
    open_destination,
    open_source,
)
from multiarch.index import IndexEntry

log = logging.getLogger(__name__)
MAX_CONCURRENT_CHECKS = 8


@dataclass(frozen=True)
class PlacedImage:
    """An image to put into the index, and where its blobs can be read."""

    entry: IndexEntry
    location: Location
    attestations: tuple[Descriptor, ...] | None = None
    """Artifacts its build pushed with the referrers tag deferred (nothing finds them yet):
    listed in the tag in its own repository, copied whole to any other; None: found at
    `location`."""


class PinnedSource:
    """A source whose top-level manifest is one chosen image (an entry of its index)."""

    def __init__(self, source: ImageSource, manifest: RawManifest) -> None:
        self._source = source
        self._manifest = manifest
        self.description = f"{source.description}@{manifest.digest}"

    def get_manifest(self, digest: str | None = None) -> RawManifest:
        if digest is None or digest == self._manifest.digest:
            return self._manifest
        return self._source.get_manifest(digest)

    def open_blob(self, desc: Descriptor) -> AbstractContextManager[Iterator[bytes]]:
        return self._source.open_blob(desc)

    def close(self) -> None:
        self._source.close()


def open_pinned(placed: PlacedImage, ctx: TransportContext) -> ImageSource:
    digest = placed.entry.manifest.digest
    if placed.location.kind == "docker":
        assert placed.location.reference is not None
        # A registry source named by digest keeps cross-repository mounts possible.
        ref = placed.location.reference.repository_ref().with_digest(digest)
        return open_source(Location("docker", reference=ref), ctx)
    return PinnedSource(open_source(placed.location, ctx), placed.entry.manifest)


def _already_there(placed: PlacedImage, target: Location) -> bool:
    return (
        placed.location.kind == "docker"
        and target.kind == "docker"
        and placed.location.reference is not None
        and target.reference is not None
        and placed.location.reference.name == target.reference.name
    )


def transfer_images(images: Sequence[PlacedImage], target: Location, ctx: TransportContext) -> None:
    """Copy every image into the target (untagged), children of the index to come."""
    dst = open_destination(target, ctx)
    try:
        if not dst.supports_index:
            raise TransportError(f"{dst.description} cannot hold a multi-platform index")
        for placed in images:
            if _already_there(placed, target):
                if placed.attestations:
                    tag_deferred(target, placed.entry.manifest.digest, placed.attestations,
                                 ctx.registry_client())
                continue
            src = open_pinned(placed, ctx)
            try:
                result = copy_image(src, dst, as_child=True)
            finally:
                src.close()
            # after the image: a referrer's subject must be there first
            copy_attestations(
                placed.location, placed.entry.manifest.digest, target, ctx.registry_client(),
                placed.attestations,
            )
            log.debug(
                "%s: %s into %s (%d blobs copied, %d mounted, %d present)",
                placed.entry.platform,
                placed.entry.manifest.digest[:19],
                dst.description,
                result.copied,
                result.mounted,
                result.skipped,
            )
    finally:
        dst.close()


def check_present(digests: Sequence[str], target: Location, ctx: TransportContext) -> None:
    """Raise unless every manifest is in the target registry repository (asked at once)."""
    if target.kind != "docker":
        return  # a layout or archive was just written by us, synchronously
    assert target.reference is not None
    client = ctx.registry_client()
    repo = target.reference.repository_ref()

    def present(digest: str) -> bool:
        return client.head_manifest(repo.with_digest(digest), mirrors=False) is not None

    if not digests:
        return
    with ThreadPoolExecutor(max_workers=min(len(digests), MAX_CONCURRENT_CHECKS)) as pool:
        found = list(pool.map(present, digests))
    for digest, ok in zip(digests, found):
        if not ok:
            raise TransportError(
                f"{repo}@{digest} is not in the target repository; the index was not pushed"
            )


def write_index(
    index: RawManifest, target: Location, tags: Sequence[str], ctx: TransportContext
) -> None:
    """The index under every tag; a registry tag that already holds this very index (a
    HEAD, as crane and manifest-tool ask) is left alone."""
    dst = open_destination(target, ctx)
    try:
        names: Sequence[str | None] = tags or [dst.tag]
        for tag in names:
            if _tag_holds(index, target, tag, ctx):
                log.info("index %s already at %s as %s", index.digest[:19], dst.description, tag)
                continue
            dst.put_manifest(index, tag)
            log.info("index %s written to %s as %s", index.digest[:19], dst.description, tag)
    finally:
        dst.close()


def _tag_holds(
    index: RawManifest, target: Location, tag: str | None, ctx: TransportContext
) -> bool:
    if target.kind != "docker" or target.reference is None or tag is None:
        return False
    ref = target.reference.repository_ref().with_tag(tag)
    found = ctx.registry_client().head_manifest(ref, mirrors=False)
    return found is not None and found.digest == index.digest


def target_tags(target: Location, extra: Sequence[str]) -> list[str]:
    """The target's own tag (registry default `latest`) followed by the extra tags."""
    own: str | None
    if target.kind == "docker":
        assert target.reference is not None
        own = target.reference.tag or (None if target.reference.digest else "latest")
    else:
        own = target.name
    tags = ([own] if own else []) + [t for t in extra if t != own]
    return tags


def publish(
    images: Sequence[PlacedImage],
    index: RawManifest,
    target: Location,
    tags: Sequence[str],
    ctx: TransportContext,
) -> None:
    """Images first, a check that they all arrived, the index last under every tag. An
    image read from the target repository itself was just fetched there: no check."""
    transfer_images(images, target, ctx)
    moved = [p.entry.manifest.digest for p in images if not _already_there(p, target)]
    check_present(moved, target, ctx)
    write_index(index, target, tags, ctx)
