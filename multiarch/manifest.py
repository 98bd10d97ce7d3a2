"""`multiarch manifest`: manifest-tool's commands.

`push from-spec SPEC.yaml` (manifest-tool's YAML), `push from-args --platforms ...
--template ... --target ...`, `push from-results FILE...` (the per-platform JSON results of
`multiarch executor --json-result`, for a GitLab child pipeline's final job), and
`inspect REF` (`--attestations`: what is attached to each platform image). Only the flags
are declared here, so `--help` stays cheap; `manifest_run` does the work: every source is
resolved and checked before anything is written; the index is pushed last, once every image
it names is in the target repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from multiarch.manifest_flags import RegistryFlags, registry_flags

F = TypeVar("F", bound=Callable[..., None])


def _flags(ctx: click.Context, here: RegistryFlags) -> RegistryFlags:
    """The subcommand's registry flags over the `manifest` group's."""
    parent = ctx.find_object(RegistryFlags)
    return parent.merged(here) if parent is not None else here


@click.group("manifest")
@registry_flags
@click.pass_context
def manifest(ctx: click.Context, /, registry: RegistryFlags) -> None:
    """Assemble, push and inspect multi-platform indexes (manifest-tool compatible)."""
    ctx.obj = _flags(ctx, registry)


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


@manifest.group("push")
@registry_flags
@click.pass_context
def push(ctx: click.Context, /, registry: RegistryFlags) -> None:
    """Push a multi-platform index built from images already in registries."""
    ctx.obj = _flags(ctx, registry)


@push.command("from-spec")
@click.argument("spec_file", type=click.Path(path_type=Path))
@push_options
@click.pass_context
def from_spec(
    ctx: click.Context,
    /,
    spec_file: Path,
    registry: RegistryFlags,
    **settings: Any,
) -> None:
    """Push the index described by a manifest-tool YAML spec."""
    # The registry client and models (httpx, pydantic): imported when the command runs.
    from multiarch import manifest_run

    flags = _flags(ctx, registry)
    manifest_run.push_from_spec(spec_file, manifest_run.push_settings(**settings), flags)


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
    /,
    platforms: str,
    template: str,
    target: str,
    tags: str,
    registry: RegistryFlags,
    **settings: Any,
) -> None:
    """Push an index of TEMPLATE filled in for each platform."""
    # The registry client and models (httpx, pydantic): imported when the command runs.
    from multiarch import manifest_run

    sources = manifest_run.sources_from_template(platforms, template)
    flags = _flags(ctx, registry)
    settings_ = manifest_run.push_settings(**settings)
    manifest_run.run_push(sources, target, manifest_run.split(tags), settings_, flags)


@push.command("from-results")
@click.argument("result_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", required=True, help="The index's name, REG/IMG:TAG.")
@click.option("--tags", default="", help="More tags for the index, comma-separated.")
@push_options
@click.pass_context
def from_results(
    ctx: click.Context,
    /,
    result_files: tuple[Path, ...],
    target: str,
    tags: str,
    registry: RegistryFlags,
    **settings: Any,
) -> None:
    """Push an index of the images that `multiarch executor --json-result FILE` jobs built,
    entries in the order of the files given. A missing file is a missing platform."""
    # The registry client and models (httpx, pydantic): imported when the command runs.
    from multiarch import manifest_run

    sources = manifest_run.sources_from_results(result_files, target)
    flags = _flags(ctx, registry)
    settings_ = manifest_run.push_settings(**settings)
    manifest_run.run_push(sources, target, manifest_run.split(tags), settings_, flags)


@manifest.command("inspect")
@click.argument("reference")
@click.option("--raw", is_flag=True, help="Print the manifest bytes exactly as stored.")
@click.option("--json", "as_json", is_flag=True, help="Print every field as JSON.")
@click.option(
    "--attestations",
    is_flag=True,
    help="List what is attached to each platform image (SBOM, provenance; signed or not).",
)
@registry_flags
@click.pass_context
def inspect(
    ctx: click.Context,
    /,
    reference: str,
    raw: bool,
    as_json: bool,
    attestations: bool,
    registry: RegistryFlags,
) -> None:
    """Show an index's platforms or an image's layers (REF, docker://, oci:, docker-archive:)."""
    # The registry client, models and rich (httpx, pydantic): imported when the command runs.
    from multiarch import inspect_run

    flags = _flags(ctx, registry)
    if attestations:
        inspect_run.inspect_attestations(reference, flags, raw=raw, as_json=as_json)
    else:
        inspect_run.inspect(reference, flags, raw=raw, as_json=as_json)
