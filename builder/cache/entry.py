"""One cached step: its key, the layer it added (or none) and when it was made.

Stored locally as JSON (`builder.cache.local`) and in a registry as a one-layer image tagged
by the key's hex, with these fields as manifest annotations (`builder.cache.remote`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from builder.oci.models import Descriptor

KEY = "dev.multiarch.cache.key"
DIFF_ID = "dev.multiarch.cache.diff-id"
CREATED = "dev.multiarch.cache.created"


@dataclass(frozen=True)
class CacheEntry:
    key: str
    layer: Descriptor | None
    """None: the step changed nothing (it is cached all the same)."""
    diff_id: str | None
    created: float
    """Unix time the entry was made (for --cache-ttl)."""

    def expired(self, ttl_s: float, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) - self.created > ttl_s

    def annotations(self) -> dict[str, str]:
        values = {KEY: self.key, CREATED: f"{self.created:.3f}"}
        if self.diff_id:
            values[DIFF_ID] = self.diff_id
        return values

    @classmethod
    def from_annotations(cls, values: dict[str, str], layers: list[Descriptor]) -> "CacheEntry":
        """Raises KeyError/ValueError when the fields are missing or inconsistent."""
        diff_id = values.get(DIFF_ID)
        if len(layers) > 1 or bool(layers) != bool(diff_id):
            raise ValueError("a cache entry holds at most one layer, with its diff_id")
        layer = layers[0] if layers else None
        if layer is not None:
            layer = Descriptor(mediaType=layer.media_type, digest=layer.digest, size=layer.size)
        return cls(values[KEY], layer, diff_id, float(values[CREATED]))

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "layer": self.layer.model_dump(mode="json", by_alias=True, exclude_none=True) if self.layer else None,
            "diff_id": self.diff_id,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CacheEntry:
        layer = Descriptor.model_validate(data["layer"]) if data.get("layer") else None
        return cls(str(data["key"]), layer, data.get("diff_id"), float(data["created"]))
