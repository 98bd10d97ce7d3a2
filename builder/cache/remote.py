"""Cache entries in a registry repository (kaniko's --cache-repo): one small image per step,
tagged with the key's hex, its one layer the step's layer, the entry's fields as manifest
annotations. Any runner that can read the repository reuses the layers; a lookup is one GET
of a manifest (404 on a miss) and one HEAD of its layer blob."""

from __future__ import annotations

import io
import json
import logging

from builder.cache.entry import CacheEntry
from builder.errors import MultiarchError, NotFoundError
from builder.oci import mediatypes as mt
from builder.oci.digest import hex_of
from builder.oci.models import Descriptor, ImageManifest, Platform
from builder.oci.raw import RawManifest
from builder.reference import Reference
from builder.registry.client import RegistryClient
from builder.store import Store

log = logging.getLogger(__name__)


class RegistryCache:
    def __init__(self, repo: Reference, client: RegistryClient, platform: Platform) -> None:
        self.repo = repo
        self.client = client
        self.platform = platform

    def tag_ref(self, key: str) -> Reference:
        return self.repo.with_tag(hex_of(key))

    def get(self, key: str, ttl_s: float) -> CacheEntry | None:
        ref = self.tag_ref(key)
        try:
            raw = self.client.get_manifest(ref)
        except NotFoundError:
            return None
        try:
            manifest = raw.manifest()
            entry = CacheEntry.from_annotations(manifest.annotations or {}, manifest.layers)
            if entry.key != key:
                raise ValueError(f"it is the entry of {entry.key}")
        except (MultiarchError, ValueError, KeyError) as err:
            log.warning("warning: cache entry %s is not usable (%s); building the step", ref, err)
            return None
        if entry.expired(ttl_s):
            log.info("cache entry %s is older than --cache-ttl", ref)
            return None
        if entry.layer is not None and not self.client.has_blob(self.repo, entry.layer.digest):
            log.warning("warning: cache entry %s names layer %s, which the registry lacks; building the step",
                        ref, entry.layer.digest)
            return None
        return entry

    def put(self, entry: CacheEntry, store: Store) -> None:
        if entry.layer is not None:
            digest = entry.layer.digest
            self.client.upload_blob(self.repo, entry.layer, lambda: store.blobs.open(digest))
        config = self._config(entry)
        config_desc = Descriptor.of_bytes(config, mt.OCI_CONFIG)
        self.client.upload_blob(self.repo, config_desc, lambda: _bytes_file(config))
        manifest = ImageManifest(
            mediaType=mt.OCI_MANIFEST,
            config=config_desc,
            layers=[entry.layer] if entry.layer else [],
            annotations=entry.annotations(),
        )
        self.client.put_manifest(self.tag_ref(entry.key), RawManifest.of(manifest))

    def fetch(self, entry: CacheEntry, store: Store) -> None:
        """The entry's layer blob into the store, verified (DigestMismatchError if it is not
        what the entry names)."""
        assert entry.layer is not None
        with self.client.open_blob(self.repo, entry.layer) as chunks:
            store.blobs.ingest(chunks, entry.layer)

    def _config(self, entry: CacheEntry) -> bytes:
        """A minimal image config, so the entry is an image any tool can inspect."""
        config: dict[str, object] = {
            "architecture": self.platform.architecture,
            "os": self.platform.os,
            "rootfs": {"type": "layers", "diff_ids": [entry.diff_id] if entry.diff_id else []},
        }
        if self.platform.variant:
            config["variant"] = self.platform.variant
        return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _bytes_file(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
