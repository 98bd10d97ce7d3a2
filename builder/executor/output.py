"""Write a built image to its destinations (registry, oci: layout, docker-archive) through
the transports, and the digest/metadata files kaniko users script against."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from builder.errors import RegistryError
from builder.events import BlobPushed, EventSink
from builder.executor.image import BuiltImage
from builder.executor.report import BuildReport
from builder.oci.models import Descriptor
from builder.oci.raw import RawManifest
from builder.reference import parse_reference
from builder.store import Store
from builder.transports import TransportContext, copy_image, open_destination, open_source
from builder.transports.base import ImageDestination, ImageSource, verified_file_chunks
from builder.transports.copy import BlobOutcome, OnBlob
from builder.transports.docker import RegistryDestination, RegistrySource

log = logging.getLogger(__name__)


class BuiltImageSource:
    """The built image as an ImageSource: manifest and config in memory, layers in the store."""

    description = "built image"

    def __init__(self, image: BuiltImage, store: Store) -> None:
        self.raw: RawManifest = image.manifest()
        self.config = image.config_bytes()
        self.config_digest = self.raw.manifest().config.digest
        self.store = store

    def get_manifest(self, digest: str | None = None) -> RawManifest:
        return self.raw

    @contextmanager
    def open_blob(self, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        if desc.digest == self.config_digest:
            yield iter([self.config])
            return
        with verified_file_chunks(self.store.blobs.path(desc.digest), desc, f"layer {desc.digest}") as chunks:
            yield chunks

    def close(self) -> None:
        pass


# What registries answer when a tag may not move (kaniko's list).
IMMUTABLE_TAG_ERRORS = (
    "The repository has enabled tag immutability",  # Google Artifact Registry
    "cannot be overwritten because the repository is immutable",  # Amazon ECR
)


def _immutable_tag_error(err: RegistryError) -> bool:
    return any(text in str(err) for text in IMMUTABLE_TAG_ERRORS)


def write_outputs(
    source: BuiltImageSource,
    ctx: TransportContext,
    *,
    destinations: tuple[str, ...],
    push: bool,
    oci_layout_path: str | None,
    tar_path: str | None,
    origins: dict[str, str],
    by_digest: tuple[str, ...] = (),
    on_event: EventSink | None = None,
    ignore_immutable_tags: bool = False,
) -> list[str]:
    """Copy the image everywhere it should go; returns the location names written.
    `by_digest` repositories get the manifest under its digest only (no tag); `on_event`
    hears of every blob uploaded or mounted; `ignore_immutable_tags`: a registry refusing to
    move an immutable tag it holds is a warning and that name is not written."""
    names: list[str] = []
    if push:
        names.extend(f"docker://{d}" for d in destinations)
        names.extend(f"docker://{parse_reference(r).repository_ref()}@{source.raw.digest}" for r in by_digest)
    if oci_layout_path:
        tag = parse_reference(destinations[0]).tag if destinations else None
        names.append(f"oci:{oci_layout_path}:{tag or 'latest'}")
    if tar_path:
        tag = f":{parse_reference(destinations[0])}" if destinations else ""
        names.append(f"docker-archive:{tar_path}{tag}")
    written = []
    for name in names:
        destination = open_destination(name, ctx)
        on_blob = _blob_events(name, on_event)
        try:
            mounted = _mount_base_layers(source, destination, origins, ctx, on_blob)
            result = copy_image(source, destination, on_blob=on_blob)
        except RegistryError as err:
            if not (ignore_immutable_tags and _immutable_tag_error(err)):
                raise
            log.warning("warning: %s: the tag is immutable and already set, left as it is "
                        "(--push-ignore-immutable-tag-errors)", name)
            continue
        finally:
            destination.close()
        log.info("wrote %s (%d blobs uploaded, %d present, %d mounted from base images)",
                 name, result.copied, result.skipped - mounted, mounted)
        written.append(name)
    return written


def _blob_events(name: str, on_event: EventSink | None) -> OnBlob:
    def on_blob(desc: Descriptor, outcome: BlobOutcome) -> None:
        if on_event is not None and outcome != "skipped":
            on_event(BlobPushed(destination=name, digest=desc.digest, size=desc.size,
                                mounted=outcome == "mounted"))  # fmt: skip

    return on_blob


def _mount_base_layers(
    source: BuiltImageSource,
    destination: ImageDestination,
    origins: dict[str, str],
    ctx: TransportContext,
    on_blob: OnBlob,
) -> int:
    """Base layers the destination registry lacks are mounted from the base image's
    repository (no bytes move), so copy_image then finds them present."""
    if not isinstance(destination, RegistryDestination):
        return 0
    by_origin: dict[str, list[Descriptor]] = {}
    for desc in source.raw.manifest().layers:
        if desc.digest in origins:
            by_origin.setdefault(origins[desc.digest], []).append(desc)
    jobs: list[tuple[Descriptor, ImageSource]] = []
    for origin, descs in by_origin.items():
        base = open_source(origin, ctx)
        if isinstance(base, RegistrySource):
            jobs.extend((desc, base) for desc in descs)

    def mount(job: tuple[Descriptor, ImageSource]) -> bool:
        desc, base = job
        mounted = not destination.has_blob(desc) and destination.try_mount(desc, base)
        if mounted:
            on_blob(desc, "mounted")
        return mounted

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(mount, jobs))


def write_digest_files(
    digest: str,
    destinations: tuple[str, ...],
    *,
    digest_file: str | None,
    name_with_digest_file: str | None,
    name_tag_with_digest_file: str | None,
    untagged: tuple[str, ...] = (),
) -> None:
    if digest_file:
        Path(digest_file).write_text(digest)
    refs = [parse_reference(d) for d in destinations]
    if name_with_digest_file:
        Path(name_with_digest_file).write_text(
            "".join(f"{r.repository_ref()}@{digest}\n" for r in [*refs, *map(parse_reference, untagged)])
        )
    if name_tag_with_digest_file:
        Path(name_tag_with_digest_file).write_text(
            "".join(f"{r.repository_ref()}:{r.tag or 'latest'}@{digest}\n" for r in refs)
        )


def write_report(report: BuildReport, metadata_file: str | None, json_result: str | None) -> None:
    data = json.dumps(report.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2)
    if metadata_file:
        Path(metadata_file).write_text(data + "\n")
    if json_result == "-":
        sys.stdout.write(data + "\n")
        sys.stdout.flush()
    elif json_result:
        Path(json_result).write_text(data + "\n")
