"""buildx's value syntax, read for `multiarch build` (flags and spec): annotation keys with
their level prefixes and platform selectors, and `--cache-from`/`--cache-to` entries.

Plain functions raising ValueError (the spec reports it at file:line; the flags as one line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANNOTATION_LEVELS = ("index", "manifest", "manifest-descriptor")
_ANNOTATION_KEY = re.compile(
    r"^(?:(?P<levels>[a-z,-]+)(?:\[(?P<platforms>[^\]]+)\])?:)?(?P<key>[^:=]+)$"
)


@dataclass(frozen=True)
class AnnotationKey:
    """`[LEVEL[,LEVEL...][\\[PLATFORM,...\\]]:]KEY` as buildx writes it."""

    levels: tuple[str, ...]
    platforms: tuple[str, ...]
    """Empty: every platform."""
    key: str

    def applies_to(self, level: str, platform: str) -> bool:
        return level in self.levels and (not self.platforms or platform in self.platforms)


def parse_annotation_key(text: str, default_level: str) -> AnnotationKey:
    """`default_level` for a key without prefix: buildx's flag means `manifest`, the spec's
    `annotations:` mean `index` (as they always have)."""
    match = _ANNOTATION_KEY.match(text)
    if match is None:
        raise ValueError(f"annotation {text!r}: expected [LEVEL[PLATFORM]:]KEY")
    levels = tuple(match["levels"].split(",")) if match["levels"] else (default_level,)
    for level in levels:
        if level == "index-descriptor":
            raise ValueError(
                f"annotation {text!r}: index-descriptor is not supported (it annotates the "
                "index inside an OCI layout's index.json); use index:"
            )
        if level not in ANNOTATION_LEVELS:
            raise ValueError(f"annotation {text!r}: unknown level {level!r}: use "
                             + ", ".join(ANNOTATION_LEVELS))
    if match["platforms"] and "index" in levels:
        raise ValueError(f"annotation {text!r}: a platform selector is for manifest levels only")
    platforms = tuple(p.strip() for p in (match["platforms"] or "").split(",") if p.strip())
    return AnnotationKey(levels, platforms, match["key"])


def select_annotations(
    annotations: dict[str, str], level: str, platform: str, default_level: str = "index"
) -> dict[str, str]:
    """The annotations of `level` (for `platform`) among spec-form keys."""
    chosen = {}
    for text, value in annotations.items():
        parsed = parse_annotation_key(text, default_level)
        if parsed.applies_to(level, platform):
            chosen[parsed.key] = value
    return chosen


_CACHE_KEYS = {"type", "ref", "mode", "ignore-error", "oci-mediatypes", "image-manifest"}


@dataclass(frozen=True)
class RegistryCache:
    """`type=registry,ref=REF[,mode=min|max]`: the repository of REF holds the layer cache."""

    ref: str
    mode: str = "min"


def parse_cache_entry(text: str) -> RegistryCache:
    """A `--cache-from`/`--cache-to` value: CSV `key=value` fields, or a bare REF (buildx's
    shorthand for type=registry)."""
    if "=" not in text:
        return RegistryCache(text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"cache {text!r}: {part!r} is not KEY=VALUE")
        fields[key.strip()] = value.strip()
    kind = fields.get("type", "registry")
    if kind != "registry":
        raise ValueError(
            f"cache type={kind} is not supported: use type=registry,ref=REG/REPO "
            "(the local store under --cache-dir is always used with it)"
        )
    unknown = sorted(set(fields) - _CACHE_KEYS)
    if unknown:
        raise ValueError(f"cache {text!r}: unknown field {unknown[0]!r}")
    if "ref" not in fields:
        raise ValueError(f"cache {text!r}: ref=REG/REPO is missing")
    mode = fields.get("mode", "min")
    if mode not in ("min", "max"):
        raise ValueError(f"cache {text!r}: mode is min or max")
    return RegistryCache(fields["ref"], mode)
