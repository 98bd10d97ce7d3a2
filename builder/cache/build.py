"""The build cache of one build: what the executor and its stages call.

- `BuildCache.stage(executor, instructions)` -> `StageCache` (builder.executor.stagecache): keys,
  the look-ahead and each step's hit or miss.
- Layers of hits are *lazy*: a registry hit is only a descriptor until some step must run on
  top of it (or an output needs its bytes); then `materialize` fetches (verified) and extracts
  it. A fully cached build therefore moves no layer bytes at all. The walk snapshotters take
  lazy layers as they are: they unpack each while it downloads (`open_layer`), and so are
  registry base images resolved only for them, cache or not.
- `record(key, layer)`: after a step ran, its entry goes to the local store at once and to
  the cache repository in the background (`close()` waits; a failed push is a warning).
- `prepare_outputs`: layers the store lacks are mounted into registry destinations from the
  cache repository, so a push re-uploads nothing the registry already holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from builder.cache.entry import CacheEntry
from builder.cache.keys import SourceHasher
from builder.cache.local import LocalCache
from builder.cache.options import CacheOptions, cache_options
from builder.cache.remote import RegistryCache
from builder.dockerfile.dockerignore import DockerIgnore
from builder.errors import BuildError, MultiarchError
from builder.fs.rootfs import Layer, Rootfs
from builder.oci.models import Descriptor, Platform
from builder.options import ExecutorOptions
from builder.reference import Reference, parse_reference
from builder.store import Store
from builder.transports import TransportContext, parse_location

log = logging.getLogger(__name__)
LOOKUP_WORKERS = 8
PUSH_WORKERS = 2


@dataclass(frozen=True)
class Hit:
    entry: CacheEntry
    remote: bool
    """Found in the cache repository (its layer may not be in the store yet)."""


class BuildCache:
    def __init__(
        self, options: CacheOptions, store: Store, transport: TransportContext, hasher: SourceHasher,
        *, uses_overlay: bool, layer_settings: str, platform: Platform, outputs_need_bytes: bool,
    ) -> None:
        self.options = options
        self.store = store
        self.transport = transport
        self.uses_overlay = uses_overlay
        """Layers run on as overlay lower dirs, so a fetched layer is also extracted."""
        self.hasher = hasher
        self.layer_settings = layer_settings
        self.outputs_need_bytes = outputs_need_bytes
        self.local = LocalCache(store) if options.enabled else None
        self.remote: RegistryCache | None = None
        if options.enabled and options.repo is not None:
            self.remote = RegistryCache(options.repo, transport.registry_client(), platform)
        self.lookups = ThreadPoolExecutor(max_workers=LOOKUP_WORKERS, thread_name_prefix="cache-lookup")
        self._pushes = ThreadPoolExecutor(max_workers=PUSH_WORKERS, thread_name_prefix="cache-push")
        self._pending: list[tuple[str, Future[None]]] = []
        self._origins: dict[str, Reference] = {}

    @property
    def enabled(self) -> bool:
        return self.options.enabled

    # --- entries -------------------------------------------------------------------------

    def lookup(self, key: str) -> Hit | None:
        assert self.local is not None
        if not self.options.lookup:
            return None
        entry = self.local.get(key, self.options.ttl_s)
        if entry is not None:
            return Hit(entry, remote=False)
        if self.remote is None:
            return None
        try:
            entry = self.remote.get(key, self.options.ttl_s)
        except MultiarchError as err:
            log.warning("warning: cache lookup in %s failed (%s); building the step", self.remote.repo, err)
            return None
        return Hit(entry, remote=True) if entry is not None else None

    def record(self, key: str, layer: Layer | None) -> None:
        entry = CacheEntry(key, layer.descriptor if layer else None, layer.diff_id if layer else None, time.time())
        assert self.local is not None
        self.local.put(entry)
        if self.remote is not None and self.options.push:
            self._pending.append((key, self._pushes.submit(self.remote.put, entry, self.store)))

    def adopt(self, hit: Hit, *, local: bool) -> Layer | None:
        """The layer of a hit: fetched and extracted now when `local`, else lazy. Raises
        (DigestMismatchError, LayerError, RegistryError...) when the entry is unusable."""
        entry = hit.entry
        if entry.layer is None:
            return None
        assert entry.diff_id is not None
        if hit.remote:
            assert self.remote is not None
            self._origins[entry.layer.digest] = self.remote.repo
        layer = Layer(entry.layer, entry.diff_id, None)
        if not local:
            return layer
        (materialized,) = self._materialize_layers((layer,))
        if hit.remote:
            assert self.local is not None
            self.local.put(entry)
        return materialized

    # --- bytes on demand -----------------------------------------------------------------

    def lazy_base(self, name: str) -> bool:
        """With the cache on, a registry base image is only resolved: a fully cached build
        never needs its layers (outputs mount them), a step that runs fetches them. The walk
        snapshotters fetch them while unpacking them."""
        return (self.enabled or not self.uses_overlay) and parse_location(name).kind == "docker"

    def add_origins(self, rootfs: Rootfs, image: str) -> None:
        location = parse_location(image)
        assert location.reference is not None
        for layer in rootfs.layers:
            self._origins.setdefault(layer.descriptor.digest, location.reference.repository_ref())

    def materialize(self, rootfs: Rootfs) -> Rootfs:
        """`rootfs` with every layer's blob in the store and extracted, for overlay; as it is
        for the walk snapshotters, which fetch a layer while unpacking it."""
        if not self.uses_overlay or all(self._is_ready(layer) for layer in rootfs.layers):
            return rootfs
        try:
            return Rootfs(tuple(self._materialize_layers(rootfs.layers)))
        except MultiarchError as err:
            raise BuildError(
                f"a layer could not be fetched: {err.message}",
                "build again with --cache=false, or remove the entry from the cache repository",
            ) from err

    def _is_ready(self, layer: Layer) -> bool:
        if not self.store.blobs.has(layer.descriptor.digest):
            return False
        return layer.directory is not None or not self.uses_overlay

    def _materialize_layers(self, layers: tuple[Layer, ...]) -> list[Layer]:
        def ready(layer: Layer) -> Layer:
            if self._is_ready(layer):
                return layer
            desc = layer.descriptor
            if not self.uses_overlay:
                self._fetch(desc)
                return layer
            with self.store.blobs.reading(desc, lambda: self.open_layer(desc)) as blob:
                directory = self.store.layers.get_or_extract(layer.diff_id, blob, desc.media_type)
            return Layer(desc, layer.diff_id, directory)

        return list(self.lookups.map(ready, layers))

    def _fetch(self, desc: Descriptor) -> None:
        with self.open_layer(desc) as chunks:
            self.store.blobs.ingest(chunks, desc)

    @contextmanager
    def open_layer(self, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        """The bytes of a layer the store lacks, verified as they arrive, from the repository
        it was found in (its base image, the cache repository)."""
        origin = self._origins.get(desc.digest)
        if origin is None:
            raise BuildError(f"layer {desc.digest} is neither in the store nor in a known repository")
        with self.transport.registry_client().open_blob(origin, desc) as chunks:
            yield chunks

    # --- outputs -------------------------------------------------------------------------

    def prepare_outputs(self, rootfs: Rootfs, destinations: tuple[str, ...], push: bool) -> None:
        """Layers of cache hits that the store lacks are mounted into each registry
        destination from the cache repository; they are fetched (verified) only when a
        destination cannot mount them or a file output needs their bytes."""
        lazy = [l for l in rootfs.layers if not self.store.blobs.has(l.descriptor.digest)]
        if not lazy:
            return
        targets = [parse_reference(d).repository_ref() for d in destinations] if push else []
        client = self.transport.registry_client()

        def mount(pair: tuple[Reference, Layer]) -> bool:
            target, layer = pair
            origin = self._origins[layer.descriptor.digest]
            try:
                return client.mount_blob(target, layer.descriptor, origin)
            except MultiarchError as err:
                log.info("mount of %s into %s failed: %s", layer.descriptor.digest, target, err)
                return False

        pairs = [(t, layer) for t in targets for layer in lazy]
        if self.outputs_need_bytes or not all(self.lookups.map(mount, pairs)):
            list(self.lookups.map(self._fetch, [l.descriptor for l in lazy]))

    def close(self) -> None:
        """Wait for the cache pushes; a failed one costs a later build its hit, nothing more."""
        for key, future in self._pending:
            try:
                future.result()
            except MultiarchError as err:
                log.warning("warning: could not push cache entry %s: %s", key, err)
        self._pending.clear()
        self._pushes.shutdown(wait=True)
        self.lookups.shutdown(wait=True)


def open_build_cache(options: ExecutorOptions, store: Store, transport: TransportContext, *,
                     uses_overlay: bool, layer_settings: str, context_dir: Path,
                     dockerignore: DockerIgnore, platform: Platform) -> BuildCache:
    """The executor's cache from its flags (a disabled one still computes step keys)."""
    cache = cache_options(
        enabled=options.cache, repo=options.cache_repo, ttl=options.cache_ttl,
        run_layers=options.cache_run_layers, copy_layers=options.cache_copy_layers,
        destinations=tuple(options.destinations), lookup=not options.no_cache,
        push=options.cache_repo_push,
    )
    pushes_elsewhere = not options.no_push and any(
        cache.repo is None or parse_reference(d).registry != cache.repo.registry for d in options.destinations
    )
    return BuildCache(
        cache, store, transport, SourceHasher(context_dir, dockerignore),
        uses_overlay=uses_overlay, layer_settings=layer_settings, platform=platform,
        outputs_need_bytes=bool(options.oci_layout_path or options.tar_path) or pushes_elsewhere,
    )
