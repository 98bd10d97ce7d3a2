"""Copy an image or index between any two locations.

Only blobs the destination lacks move (a registry destination on the source's registry
mounts them instead); blobs stream and are verified; an index is written after every
manifest it names, so a reader never sees an index whose children are missing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal

from builder.errors import DigestMismatchError, TransportError
from builder.oci import mediatypes as mt
from builder.oci.models import Descriptor, Platform
from builder.oci.platform import host_platform, select_manifest
from builder.oci.raw import RawManifest
from builder.transports.base import ImageDestination, ImageSource, SharedBlobReader

log = logging.getLogger(__name__)

BlobOutcome = Literal["copied", "mounted", "skipped"]
"""What happened to one blob: uploaded, mounted from another repository, or already there."""
OnBlob = Callable[[Descriptor, BlobOutcome], None]

_NOT_COPIED = frozenset({mt.DOCKER_LAYER_FOREIGN_GZIP, mt.OCI_LAYER_NONDIST_GZIP})


@dataclass(frozen=True)
class CopyResult:
    descriptor: Descriptor
    """The top-level manifest or index written to the destination."""
    copied: int
    mounted: int
    skipped: int
    bytes_copied: int


def copy_image(
    src: ImageSource,
    dst: ImageDestination,
    platform: Platform | None = None,
    all_platforms: bool = False,
    as_child: bool = False,
    on_blob: OnBlob | None = None,
) -> CopyResult:
    """Copy src's image to dst. An index source is copied whole with `all_platforms`, else
    its entry for `platform` (default: this host's platform) is copied as a single image.
    `as_child` stores the top manifest untagged (root=False), for an index written later.
    `on_blob` hears what happened to each blob as it happens."""
    top = src.get_manifest()
    if top.is_index and not all_platforms:
        top = fetch_child(src, select_manifest(top.index(), platform or host_platform()))
    if top.is_index and not dst.supports_index:
        raise TransportError(
            f"{dst.description} can hold one image, not a multi-platform index",
            hint="copy one platform with --platform",
        )
    manifests = _walk(src, top)
    blobs = _distinct_blobs(manifests)
    counter = _Counter(on_blob)
    _copy_blobs(src, dst, blobs, counter)
    for raw in manifests[:-1]:
        dst.put_manifest(raw, None, root=False)
    dst.put_manifest(top, None if as_child else dst.tag, root=not as_child)
    log.info(
        "copied %s to %s: %d blobs copied, %d mounted, %d already present",
        src.description, dst.description, counter.copied, counter.mounted, counter.skipped,
    )  # fmt: skip
    return CopyResult(
        descriptor=top.descriptor(),
        copied=counter.copied,
        mounted=counter.mounted,
        skipped=counter.skipped,
        bytes_copied=counter.bytes,
    )


def fetch_child(src: ImageSource, desc: Descriptor) -> RawManifest:
    raw = src.get_manifest(desc.digest)
    if raw.digest != desc.digest:
        raise DigestMismatchError(f"{src.description}: manifest {desc.digest} has digest {raw.digest}")
    return raw


def _walk(src: ImageSource, top: RawManifest) -> list[RawManifest]:
    """Every manifest under `top`, children before their parents, `top` last."""
    if not top.is_index:
        return [top]
    ordered: list[RawManifest] = []
    for entry in top.index().manifests:
        ordered.extend(_walk(src, fetch_child(src, entry)))
    ordered.append(top)
    return ordered


def _distinct_blobs(manifests: list[RawManifest]) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    for raw in manifests:
        if raw.is_index:
            continue
        manifest = raw.manifest()
        for desc in [manifest.config, *manifest.layers]:
            if desc.media_type in _NOT_COPIED and desc.urls:
                continue  # foreign layers stay where their urls point, as with skopeo
            seen.setdefault(desc.digest, desc)
    return list(seen.values())


class _Counter:
    def __init__(self, on_blob: OnBlob | None) -> None:
        self._lock = threading.Lock()
        self._on_blob = on_blob
        self.copied = self.mounted = self.skipped = self.bytes = 0

    def add(self, outcome: BlobOutcome, desc: Descriptor) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            if outcome == "copied":
                self.bytes += desc.size
        if self._on_blob is not None:
            self._on_blob(desc, outcome)


def _copy_blob(src: ImageSource, dst: ImageDestination, desc: Descriptor, counter: _Counter) -> None:
    if dst.has_blob(desc):
        counter.add("skipped", desc)
    elif dst.try_mount(desc, src):
        counter.add("mounted", desc)
    else:
        with SharedBlobReader(src, desc) as reader:
            dst.put_blob(desc, reader.open)
        counter.add("copied", desc)


def _copy_blobs(src: ImageSource, dst: ImageDestination, blobs: list[Descriptor], counter: _Counter) -> None:
    # Large blobs first so the slowest transfer starts early.
    ordered = sorted(blobs, key=lambda d: -d.size)
    if dst.parallel_blobs <= 1 or len(ordered) <= 1:
        for desc in blobs:
            _copy_blob(src, dst, desc, counter)
        return
    with ThreadPoolExecutor(max_workers=min(dst.parallel_blobs, len(ordered))) as pool:
        futures = [pool.submit(_copy_blob, src, dst, desc, counter) for desc in ordered]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            future.result()
