"""Which image each index entry comes from, resolved and checked before anything is pushed.

A source that is itself an index contributes its entry for the wanted platform; a platform
field the spec leaves out is read from the image's config; a platform field the spec gives
that contradicts the config is an error (an amd64 image listed as arm64 would crash on
every arm64 host that pulls it). A source that does not exist is `Missing`, for the caller
to fail on or skip (`--ignore-missing`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from builder.errors import NotFoundError, PlatformError, UsageError
from builder.oci.models import Descriptor, ImageConfig, Platform
from builder.oci.platform import format_platform, normalize_arch, select_manifest
from builder.transports import (
    TransportContext,
    fetch_child,
    open_source,
    parse_location,
    read_config,
)
from multiarch.index import IndexEntry
from multiarch.publish import PlacedImage
from multiarch.spec import ManifestPlatform


@dataclass(frozen=True)
class SourceImage:
    name: str
    """Where the image is: REF, docker://REF, oci:DIR[:TAG], docker-archive:FILE."""
    label: str
    """How messages name this entry (`manifests[1]`, `linux/arm64`)."""
    platform: ManifestPlatform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    attestations: tuple[Descriptor, ...] | None = None
    """Referrer artifacts its build pushed with the tag deferred (see `PlacedImage`)."""


@dataclass(frozen=True)
class Missing:
    source: SourceImage
    reason: str

    def __str__(self) -> str:
        return f"{self.source.label} ({self.source.name}): {self.reason}"


MAX_CONCURRENT_LOOKUPS = 8


def resolve_all(
    sources: Sequence[SourceImage | Missing], ctx: TransportContext
) -> list[PlacedImage | Missing]:
    """Every source resolved, in order, the lookups at once (each is two or three round
    trips: manifest, maybe a child, config); a `Missing` passes through."""

    def one(source: SourceImage | Missing) -> PlacedImage | Missing:
        return source if isinstance(source, Missing) else resolve_source(source, ctx)

    if len(sources) <= 1:
        return [one(s) for s in sources]
    with ThreadPoolExecutor(max_workers=min(len(sources), MAX_CONCURRENT_LOOKUPS)) as pool:
        return list(pool.map(one, sources))


def resolve_source(source: SourceImage, ctx: TransportContext) -> PlacedImage | Missing:
    location = parse_location(source.name)
    image_source = open_source(location, ctx)
    try:
        try:
            top = image_source.get_manifest()
        except NotFoundError as err:
            return Missing(source, str(err))
        raw = top
        if top.is_index:
            wanted = _wanted(source)
            try:
                raw = fetch_child(image_source, select_manifest(top.index(), wanted))
            except PlatformError as err:
                return Missing(source, str(err))
            if raw.is_index:
                raise UsageError(f"{source.label}: {source.name} nests an index in an index")
        config = read_config(image_source, raw.manifest().config)
    finally:
        image_source.close()
    platform = merge_platform(source, config)
    entry = IndexEntry(raw, platform, dict(source.annotations))
    return PlacedImage(entry, location, source.attestations)


def _wanted(source: SourceImage) -> Platform:
    given = source.platform
    if given is None or not given.os or not given.architecture:
        raise UsageError(
            f"{source.label}: {source.name} is a multi-platform index; "
            "give os and architecture to pick its entry"
        )
    arch, variant = normalize_arch(given.architecture, given.variant)
    return Platform(os=given.os, architecture=arch, variant=variant)


def merge_platform(source: SourceImage, config: ImageConfig) -> Platform:
    """The spec's platform fields, each checked against the config, the rest from it."""
    have = config.platform()
    given = source.platform or ManifestPlatform()
    problems = []
    if given.os and given.os.lower() != have.os.lower():
        problems.append(f"os {given.os!r}")
    if given.architecture:
        want_arch, want_variant = normalize_arch(given.architecture, given.variant)
        have_arch, have_variant = normalize_arch(have.architecture, have.variant)
        if want_arch != have_arch:
            problems.append(f"architecture {given.architecture!r}")
        elif given.variant and have.variant and want_variant != have_variant:
            problems.append(f"variant {given.variant!r}")
    if problems:
        raise PlatformError(
            f"{source.label}: the spec says {' and '.join(problems)} but {source.name} is "
            f"{format_platform(have)} (from its image config)",
            hint="fix the platform in the spec, or leave it out to use the image's own",
        )
    extra: dict[str, object] = {}
    os_version = given.osversion or have.os_version
    if os_version:
        extra["os.version"] = os_version
    os_features = given.osfeatures or config.os_features
    if os_features:
        extra["os.features"] = os_features
    fields = {
        "os": given.os or have.os,
        "architecture": given.architecture or have.architecture,
        "variant": given.variant or have.variant,
        "features": given.features,
    }
    return Platform.model_validate(fields | extra)
