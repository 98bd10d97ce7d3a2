"""What the `multiarch manifest` commands do (their flags are declared in
`multiarch.manifest`): sources from a spec, a template or build results, resolved and checked,
then published with the index last. `inspect` is in `multiarch.inspect_run`."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from builder.attest import IN_TOTO_MEDIA_TYPE
from builder.errors import NotFoundError, UsageError
from builder import BuildReport
from builder.log import register_secret
from builder.oci.platform import format_platform, parse_platform
from builder.oci.raw import RawManifest
from builder.registry.options import (
    Credential,
    RegistryOptions,
    parse_ca_files,
    parse_client_certs,
)
from builder.transports import TransportContext, parse_location
from multiarch.index import IndexType, assemble_index, index_annotations, parse_annotations
from multiarch.manifest_flags import RegistryFlags
from multiarch.publish import publish, target_tags
from multiarch.sources import Missing, SourceImage, resolve_all
from multiarch.spec import ManifestPlatform, ManifestSpec, load_manifest_spec

log = logging.getLogger(__name__)


def transport_context(flags: RegistryFlags, names: Sequence[str]) -> TransportContext:
    """A transport context whose registry options apply these flags to every registry
    among `names` (manifest-tool's --insecure and login apply to all it talks to)."""
    hosts = {
        loc.reference.registry
        for loc in map(parse_location, names)
        if loc.kind == "docker" and loc.reference is not None
    }
    insecure = frozenset(hosts) if flags.insecure else frozenset()
    credentials: dict[str, Credential] = {}
    if flags.username is not None or flags.password is not None:
        register_secret(flags.password)
        login = Credential(
            username=flags.username, password=flags.password, source="--username/--password"
        )
        credentials = {host: login for host in hosts}
    options = RegistryOptions(
        insecure=insecure,
        skip_verify=insecure,
        ca_files=parse_ca_files(flags.registry_certificate),
        client_certs=parse_client_certs(flags.registry_client_cert),
        docker_config=flags.docker_cfg,
        credentials=credentials,
    )
    return TransportContext(registry_options=options)


@dataclass
class PushSettings:
    index_type: IndexType = "oci"
    ignore_missing: bool = False
    digest_file: Path | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def push_settings(
    index_type: IndexType,
    ignore_missing: bool,
    digest_file: Path | None,
    annotation: tuple[str, ...],
) -> PushSettings:
    return PushSettings(index_type, ignore_missing, digest_file, parse_annotations(annotation))


def push_from_spec(spec_file: Path, settings: PushSettings, flags: RegistryFlags) -> RawManifest:
    """Push the index described by a manifest-tool YAML spec."""
    spec = load_manifest_spec(spec_file)
    sources = sources_from_spec(spec)
    settings.annotations = {**spec.annotations, **settings.annotations}
    return run_push(sources, spec.image, spec.tags, settings, flags)


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def sources_from_template(platforms: str, template: str) -> list[SourceImage]:
    names = split(platforms)
    if not names:
        raise UsageError("--platforms is empty")
    if "ARCH" not in template and "OS" not in template and "VARIANT" not in template:
        raise UsageError(f"--template {template!r} has no OS, ARCH or VARIANT placeholder")
    sources = []
    for name in names:
        parse_platform(name)  # reject bad platforms with the parser's message
        parts = name.split("/")
        if len(parts) < 2:
            raise UsageError(f"--platforms: {name!r} must be os/arch[/variant]")
        os_name, arch, variant = parts[0], parts[1], parts[2] if len(parts) > 2 else ""
        image = template.replace("VARIANT", variant).replace("ARCH", arch).replace("OS", os_name)
        platform = ManifestPlatform(os=os_name, architecture=arch, variant=variant or None)
        sources.append(SourceImage(image, name, platform))
    return sources


def sources_from_results(files: Sequence[Path], target: str) -> list[SourceImage | Missing]:
    """One source per result file: the image its job pushed by digest. A file that does not
    exist (the job failed) becomes a source that resolves as missing."""
    target_ref = parse_location(target).reference
    if target_ref is None:
        raise UsageError(f"--target {target!r} must be a registry reference")
    sources: list[SourceImage | Missing] = []
    for path in files:
        if not path.is_file():
            missing = SourceImage(str(path), path.stem)
            sources.append(Missing(missing, "no result file: the job did not finish"))
            continue
        try:
            report = BuildReport.model_validate_json(path.read_bytes())
        except ValueError as err:
            raise UsageError(f"{path}: not a build result: {str(err).splitlines()[0]}") from None
        # The first registry the job pushed to (its oci:/docker-archive: outputs are local).
        locations = map(parse_location, report.destinations)
        pushed = (loc.reference for loc in locations if loc.kind == "docker" and loc.reference)
        repo = next(pushed, target_ref).repository_ref()
        platform = report.platform
        referrers = tuple(a for a in report.attestations if a.artifact_type == IN_TOTO_MEDIA_TYPE)
        sources.append(
            SourceImage(
                f"{repo}@{report.manifest.digest}",
                format_platform(platform),
                ManifestPlatform.of(platform),
                attestations=referrers or None,  # their tag deferred to this push
            )
        )
    return sources


def run_push(
    sources: Sequence[SourceImage | Missing],
    target: str,
    tags: Sequence[str],
    settings: PushSettings,
    flags: RegistryFlags,
) -> RawManifest:
    """`push_index`, then what manifest-tool prints and the --digest-file."""
    index, _ = push_index(sources, target, tags, settings, flags)
    click.echo(f"Digest: {index.digest} {len(index.data)}")
    if settings.digest_file:
        settings.digest_file.write_text(index.digest)
    return index


def push_index(
    sources: Sequence[SourceImage | Missing],
    target: str,
    tags: Sequence[str],
    settings: PushSettings,
    flags: RegistryFlags,
) -> tuple[RawManifest, list[str]]:
    """Resolve every source, then publish: images, a check, the index under every tag.
    Returns the index and the references it was pushed under (REG/REPO:TAG)."""
    target_location = parse_location(target)
    if target_location.kind != "docker" or target_location.reference is None:
        raise UsageError(f"the target {target!r} must be a registry reference")
    ctx = transport_context(flags, [target, *(s.name for s in sources if not isinstance(s, Missing))])
    try:
        resolved = resolve_all(sources, ctx)
        missing = [r for r in resolved if isinstance(r, Missing)]
        placed = [r for r in resolved if not isinstance(r, Missing)]
        if missing and not settings.ignore_missing:
            raise NotFoundError(
                f"{len(missing)} of {len(sources)} images missing, nothing pushed: "
                + "; ".join(map(str, missing)),
                hint="--ignore-missing pushes an index of the images that exist",
            )
        for item in missing:
            log.warning("skipping missing image %s", item)
        if not placed:
            raise NotFoundError("no image found for any entry; nothing pushed")
        annotations = index_annotations(settings.annotations, os.environ)
        index = assemble_index([p.entry for p in placed], settings.index_type, annotations)
        all_tags = target_tags(target_location, tags)
        publish(placed, index, target_location, all_tags, ctx)
    finally:
        ctx.close()
    repository = target_location.reference.repository_ref()
    return index, [str(repository.with_tag(tag)) for tag in all_tags]


def sources_from_spec(spec: ManifestSpec) -> list[SourceImage]:
    return [
        SourceImage(entry.image, f"manifests[{i}]", entry.platform, entry.annotations)
        for i, entry in enumerate(spec.manifests)
    ]
