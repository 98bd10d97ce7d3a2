"""`multiarch manifest`: manifest-tool's commands.

`push from-spec SPEC.yaml` (manifest-tool's YAML), `push from-args --platforms ...
--template ... --target ...`, `push from-results FILE...` (the per-platform JSON results of
`multiarch executor --json-result`, for a GitLab child pipeline's final job), and
`inspect REF`. Every source is resolved and checked before anything is written; the index is
pushed last, once every image it names is in the target repository.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from builder.errors import NotFoundError, UsageError
from builder.log import register_secret

if TYPE_CHECKING:
    from builder.oci.raw import RawManifest
    from builder.transports import TransportContext
    from multiarch.index import IndexType
    from multiarch.sources import Missing, SourceImage
    from multiarch.spec import ManifestSpec

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., None])


@dataclass
class RegistryFlags:
    """manifest-tool's global flags; given on `manifest` or on the subcommand."""

    insecure: bool = False
    username: str | None = None
    password: str | None = None
    docker_cfg: Path | None = None

    def merged(self, other: RegistryFlags) -> RegistryFlags:
        return RegistryFlags(
            insecure=self.insecure or other.insecure,
            username=other.username or self.username,
            password=other.password or self.password,
            docker_cfg=other.docker_cfg or self.docker_cfg,
        )

    def context(self, names: Sequence[str]) -> TransportContext:
        """A transport context whose registry options apply these flags to every registry
        among `names` (manifest-tool's --insecure and login apply to all it talks to)."""
        from builder.registry.options import Credential, RegistryOptions
        from builder.transports import TransportContext, parse_location

        hosts = {
            loc.reference.registry
            for loc in map(parse_location, names)
            if loc.kind == "docker" and loc.reference is not None
        }
        insecure = frozenset(hosts) if self.insecure else frozenset()
        credentials: dict[str, Credential] = {}
        if self.username is not None or self.password is not None:
            register_secret(self.password)
            login = Credential(
                username=self.username, password=self.password, source="--username/--password"
            )
            credentials = {host: login for host in hosts}
        options = RegistryOptions(
            insecure=insecure,
            skip_verify=insecure,
            docker_config=self.docker_cfg,
            credentials=credentials,
        )
        return TransportContext(registry_options=options)


def registry_flags(command: F) -> F:
    options = [
        click.option("--insecure", is_flag=True, help="Allow plain HTTP and unverified TLS."),
        click.option("--username", help="Registry login (all registries involved)."),
        click.option("--password", help="Registry password (never logged)."),
        click.option(
            "--docker-cfg",
            type=click.Path(path_type=Path),
            help="Docker config.json (file or directory).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _flags(
    ctx: click.Context,
    insecure: bool,
    username: str | None,
    password: str | None,
    docker_cfg: Path | None,
) -> RegistryFlags:
    here = RegistryFlags(insecure, username, password, docker_cfg)
    parent = ctx.find_object(RegistryFlags)
    return parent.merged(here) if parent is not None else here


@click.group("manifest")
@registry_flags
@click.pass_context
def manifest(ctx: click.Context, **flags: Any) -> None:
    """Assemble, push and inspect multi-platform indexes (manifest-tool compatible)."""
    ctx.obj = _flags(ctx, **flags)


@dataclass
class PushSettings:
    index_type: IndexType = "oci"
    ignore_missing: bool = False
    digest_file: Path | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def push_options(command: F) -> F:
    options = [
        click.option(
            "--type",
            "index_type",
            type=click.Choice(["oci", "docker"]),
            default="oci",
            show_default=True,
            help="OCI image index or Docker manifest list.",
        ),
        click.option(
            "--ignore-missing",
            is_flag=True,
            help="Skip missing images with a warning instead of failing.",
        ),
        click.option(
            "--digest-file",
            type=click.Path(path_type=Path),
            help="Write the index digest to this file.",
        ),
        click.option(
            "--annotation",
            "annotation",
            multiple=True,
            metavar="KEY=VALUE",
            help="Index annotation (repeatable).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return registry_flags(command)


def _push_settings(
    index_type: IndexType,
    ignore_missing: bool,
    digest_file: Path | None,
    annotation: tuple[str, ...],
) -> PushSettings:
    from multiarch.index import parse_annotations

    return PushSettings(index_type, ignore_missing, digest_file, parse_annotations(annotation))


@manifest.group("push")
@registry_flags
@click.pass_context
def push(ctx: click.Context, **flags: Any) -> None:
    """Push a multi-platform index built from images already in registries."""
    ctx.obj = _flags(ctx, **flags)


@push.command("from-spec")
@click.argument("spec_file", type=click.Path(path_type=Path))
@push_options
@click.pass_context
def from_spec(
    ctx: click.Context,
    spec_file: Path,
    insecure: bool,
    username: str | None,
    password: str | None,
    docker_cfg: Path | None,
    **settings: Any,
) -> None:
    """Push the index described by a manifest-tool YAML spec."""
    from multiarch.spec import load_manifest_spec

    spec = load_manifest_spec(spec_file)
    sources = sources_from_spec(spec)
    push_settings = _push_settings(**settings)
    push_settings.annotations = {**spec.annotations, **push_settings.annotations}
    flags = _flags(ctx, insecure, username, password, docker_cfg)
    run_push(sources, spec.image, spec.tags, push_settings, flags)


@push.command("from-args")
@click.option(
    "--platforms", required=True, help="Comma-separated, e.g. linux/amd64,linux/arm64/v8."
)
@click.option(
    "--template",
    required=True,
    help="Source image per platform, with OS, ARCH, VARIANT placeholders.",
)
@click.option("--target", required=True, help="The index's name, REG/IMG:TAG.")
@click.option("--tags", default="", help="More tags for the index, comma-separated.")
@push_options
@click.pass_context
def from_args(
    ctx: click.Context,
    platforms: str,
    template: str,
    target: str,
    tags: str,
    insecure: bool,
    username: str | None,
    password: str | None,
    docker_cfg: Path | None,
    **settings: Any,
) -> None:
    """Push an index of TEMPLATE filled in for each platform."""
    sources = sources_from_template(platforms, template)
    flags = _flags(ctx, insecure, username, password, docker_cfg)
    run_push(sources, target, _split(tags), _push_settings(**settings), flags)


@push.command("from-results")
@click.argument("result_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", required=True, help="The index's name, REG/IMG:TAG.")
@click.option("--tags", default="", help="More tags for the index, comma-separated.")
@push_options
@click.pass_context
def from_results(
    ctx: click.Context,
    result_files: tuple[Path, ...],
    target: str,
    tags: str,
    insecure: bool,
    username: str | None,
    password: str | None,
    docker_cfg: Path | None,
    **settings: Any,
) -> None:
    """Push an index of the images that `multiarch executor --json-result FILE` jobs built,
    entries in the order of the files given. A missing file is a missing platform."""
    sources = sources_from_results(result_files, target)
    flags = _flags(ctx, insecure, username, password, docker_cfg)
    run_push(sources, target, _split(tags), _push_settings(**settings), flags)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def sources_from_template(platforms: str, template: str) -> list[SourceImage]:
    from builder.oci.platform import parse_platform
    from multiarch.sources import SourceImage
    from multiarch.spec import ManifestPlatform

    names = _split(platforms)
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
    from builder.executor.report import BuildReport
    from builder.oci.platform import format_platform
    from builder.transports import parse_location
    from multiarch.sources import Missing, SourceImage
    from multiarch.spec import ManifestPlatform

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
        sources.append(
            SourceImage(
                f"{repo}@{report.manifest.digest}",
                format_platform(platform),
                ManifestPlatform.of(platform),
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
    from builder.transports import parse_location
    from multiarch.index import assemble_index, index_annotations
    from multiarch.publish import publish, target_tags
    from multiarch.sources import Missing, resolve_all

    target_location = parse_location(target)
    if target_location.kind != "docker" or target_location.reference is None:
        raise UsageError(f"the target {target!r} must be a registry reference")
    ctx = flags.context([target, *(s.name for s in sources if not isinstance(s, Missing))])
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
    from multiarch.sources import SourceImage

    return [
        SourceImage(entry.image, f"manifests[{i}]", entry.platform, entry.annotations)
        for i, entry in enumerate(spec.manifests)
    ]


# ----------------------------------------------------------------------- inspect


@manifest.command("inspect")
@click.argument("reference")
@click.option("--raw", is_flag=True, help="Print the manifest bytes exactly as stored.")
@click.option("--json", "as_json", is_flag=True, help="Print every field as JSON.")
@registry_flags
@click.pass_context
def inspect(
    ctx: click.Context,
    reference: str,
    raw: bool,
    as_json: bool,
    insecure: bool,
    username: str | None,
    password: str | None,
    docker_cfg: Path | None,
) -> None:
    """Show an index's platforms or an image's layers (REF, docker://, oci:, docker-archive:)."""
    from builder.transports import open_source, read_config

    if raw and as_json:
        raise UsageError("--raw and --json exclude each other")
    transport_ctx = _flags(ctx, insecure, username, password, docker_cfg).context([reference])
    try:
        source = open_source(reference, transport_ctx)
        try:
            top = source.get_manifest()
            if raw:
                click.echo(top.data.decode())
                return
            config = None if top.is_index else read_config(source, top.manifest().config)
        finally:
            source.close()
    finally:
        transport_ctx.close()
    if as_json:
        body: dict[str, Any] = {
            "name": reference,
            "digest": top.digest,
            "mediaType": top.media_type,
            "size": len(top.data),
            "manifest": json.loads(top.data),
        }
        if config is not None:
            body["config"] = config.to_dict()
        click.echo(json.dumps(body, indent=2))
        return
    from multiarch.inspect_view import render

    render(reference, top, config)
