"""The cache settings of one build (kaniko's --cache* flags) as one typed value."""

from __future__ import annotations

import re
from dataclasses import dataclass

from builder.errors import InvalidReferenceError, UsageError
from builder.reference import Reference, parse_reference

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class CacheOptions:
    enabled: bool = False
    repo: Reference | None = None
    """Where layers are shared between runners (None: the local store only)."""
    ttl_s: float = 336 * 3600.0
    run_layers: bool = True
    copy_layers: bool = True
    lookup: bool = True
    """False (--no-cache): every step runs; its entry is still recorded."""
    push: bool = True
    """False: the cache repository is only read (new entries stay in the local store)."""


def parse_go_duration(text: str) -> float:
    """kaniko's --cache-ttl is a Go duration: `336h`, `1h30m`, `90s`."""
    value = text.strip()
    parts = _GO_DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise UsageError(f"--cache-ttl {text!r} is not a duration", "use e.g. 336h, 24h, 1h30m")
    return sum(float(n) * _SECONDS[u] for n, u in parts)


def cache_options(
    *, enabled: bool, repo: str | None, ttl: str, run_layers: bool, copy_layers: bool,
    destinations: tuple[str, ...], lookup: bool = True, push: bool = True,
) -> CacheOptions:
    """kaniko's rule: without --cache-repo, layers go to `DESTINATION_REPO/cache`."""
    if not enabled:
        return CacheOptions()
    name = repo or (f"{parse_reference(destinations[0]).repository_ref()}/cache" if destinations else None)
    try:
        ref = parse_reference(name).repository_ref() if name else None
    except InvalidReferenceError as err:
        raise UsageError(f"--cache-repo {name!r}: {err.message}", "use REGISTRY/REPOSITORY") from None
    return CacheOptions(True, ref, parse_go_duration(ttl), run_layers, copy_layers, lookup, push)
