"""FROM an image: resolve it for the platform, pull the blobs the store lacks (in parallel),
extract each layer once into the store's extracted-layer cache, while it downloads."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from builder.errors import BuildError
from builder.fs.rootfs import Layer, Rootfs
from builder.oci.models import Descriptor, ImageConfig, Platform
from builder.store import Store
from builder.transports import TransportContext, open_source, resolve_image
from builder.transports.base import ImageSource

log = logging.getLogger(__name__)
PULL_WORKERS = 4


@dataclass(frozen=True)
class BaseImage:
    name: str
    digest: str
    """Digest of the platform's image manifest (what a cache key builds on)."""
    config: ImageConfig
    rootfs: Rootfs


def pull_base(
    name: str, platform: Platform, store: Store, ctx: TransportContext, *, extract: bool = True,
    lazy: bool = False,
) -> BaseImage:
    """`extract`: also unpack each layer into the extracted-layer cache (overlay builds).
    `lazy`: resolve only; the layers are fetched when a step needs them (builder.cache)."""
    source = open_source(name, ctx)
    try:
        resolved = resolve_image(source, platform)
        diff_ids = resolved.config.rootfs.diff_ids
        layers = resolved.manifest.layers
        if len(diff_ids) != len(layers):
            raise BuildError(
                f"{name}: image has {len(layers)} layers but its config lists {len(diff_ids)} diff_ids"
            )
        if lazy:
            dirs: list[Path | None] = [None] * len(layers)
        else:
            with ThreadPoolExecutor(max_workers=PULL_WORKERS) as pool:
                dirs = list(pool.map(
                    lambda pair: _fetch(source, store, pair[0], pair[1], extract), zip(layers, diff_ids)
                ))
        rootfs = Rootfs(tuple(Layer(d, i, p) for d, i, p in zip(layers, diff_ids, dirs)))
        return BaseImage(name, resolved.raw.digest, resolved.config, rootfs)
    finally:
        source.close()


def _fetch(source: ImageSource, store: Store, desc: Descriptor, diff_id: str, extract: bool) -> Path | None:
    missing = not store.blobs.has(desc.digest)
    if missing:
        log.debug("pulling %s", desc.digest)
    if extract:
        with store.blobs.reading(desc, lambda: source.open_blob(desc)) as blob:
            return store.layers.get_or_extract(diff_id, blob, desc.media_type)
    if missing:
        with source.open_blob(desc) as chunks:
            store.blobs.ingest(chunks, desc)
    return None
