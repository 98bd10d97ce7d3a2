"""builder's public build call: `build(context, ...) -> BuildResult`.

The keyword options are `multiarch executor`'s flags under Python names, and they become the
same `ExecutorOptions` value the command line builds: one place for defaults (an option left
out keeps the executor's default) and validation, and the same errors with the same one-line
messages. Progress is a callback receiving builder.events; without one the build is quiet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from builder.cli import executor
from builder.cli_run import check as run_check
from builder.cli_run import options_from_flags
from builder.errors import UsageError
from builder.events import EventSink, discard
from builder.executor.report import BuildReport, StepReport
from builder.executor.run import run_executor
from builder.oci.models import Descriptor, ImageConfig, Platform
from builder.option_choices import Compression, Isolation
from builder.options import ExecutorOptions, SecretSource
from builder.transports import parse_location

PathText = str | os.PathLike[str]


class BuildResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: Platform
    digest: str
    """The image manifest's digest."""
    manifest: Descriptor
    config: ImageConfig
    layers: tuple[Descriptor, ...]
    destinations: tuple[str, ...]
    """Every location written: docker://REF, oci:DIR:TAG, docker-archive:FILE[:REF]."""
    pushed: tuple[str, ...]
    """The registry references pushed, each as REG/REPO[:TAG]@DIGEST."""
    steps: tuple[StepReport, ...]
    """Each step in order, with whether it came from the cache and how long it took."""
    duration_s: float


def build(
    context: PathText = ".",
    *,
    dockerfile: PathText | None = None,
    platform: str | None = None,
    destinations: Sequence[str] = (),
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    labels: Mapping[str, str] | None = None,
    cache: bool | None = None,
    cache_repo: str | None = None,
    cache_dir: PathText | None = None,
    secrets: Sequence[SecretSource] = (),
    isolation: Isolation | str | None = None,
    reproducible: bool | None = None,
    compression: Compression | str | None = None,
    insecure_registries: Sequence[str] = (),
    registry_certificates: Mapping[str, PathText] | None = None,
    progress: EventSink | None = None,
    options: ExecutorOptions | None = None,
) -> BuildResult:
    """Build the Dockerfile in `context` for `platform` (default: this host's) and write
    the image to every destination: registry references (`REG/REPO:TAG` or `docker://...`),
    at most one `oci:DIR` layout and one `docker-archive:FILE`. Options left as None keep
    the executor's defaults; `options` is a base for every other executor setting.

    Raises builder.errors.MultiarchError subclasses (UsageError for bad options, BuildError
    for a failing step, RegistryError, ...) whose `str()` is the line the CLI prints.

    Run as root for RUN steps in namespaces. In a single-threaded process the first build
    moves the process into a private mount namespace, as the command line does, so a build's
    mounts never show on the host, even when the process is killed."""
    given: dict[str, Any] = {
        "context": os.fspath(context),
        "dockerfile": _text(dockerfile),
        "custom_platform": platform,
        "build_args": dict(build_args) if build_args is not None else None,
        "target": target,
        "labels": dict(labels) if labels is not None else None,
        "cache": cache,
        "cache_repo": cache_repo,
        "cache_dir": _text(cache_dir),
        "secrets": tuple(secrets) or None,
        "isolation": isolation,
        "reproducible": reproducible,
        "compression": compression,
        "insecure_registries": tuple(insecure_registries) or None,
        "registry_certificates": {h: os.fspath(p) for h, p in registry_certificates.items()}
        if registry_certificates is not None
        else None,
        **(_outputs(destinations) if destinations else {}),
    }
    base = (options or ExecutorOptions()).model_dump()
    try:
        executor_options = ExecutorOptions.model_validate(
            {**base, **{key: value for key, value in given.items() if value is not None}}
        )
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UsageError(f"build option {where}: {first['msg']}") from None
    report = execute(executor_options, progress)
    assert report.config is not None  # set by every build in this process
    return BuildResult(
        platform=report.platform,
        digest=report.manifest.digest,
        manifest=report.manifest,
        config=report.config,
        layers=tuple(report.layers),
        destinations=tuple(report.destinations),
        pushed=tuple(_pushed(report.destinations, report.manifest.digest)),
        steps=tuple(report.steps),
        duration_s=report.duration_s,
    )


def executor_options(flags: Sequence[str]) -> ExecutorOptions:
    """`multiarch executor`'s command-line flags as options, parsed and validated by the
    command's own parser (one definition of the flags and their defaults)."""
    with executor.make_context("executor", list(flags)) as ctx:
        return options_from_flags(ctx.params)


def execute(options: ExecutorOptions, progress: EventSink | None = None) -> BuildReport:
    """Run one build from ready options, as `multiarch executor` does; the report is what
    it writes to --json-result (the image's descriptors and every step)."""
    return run_executor(options, progress or discard)


def check(options: ExecutorOptions) -> None:
    """`multiarch executor --check`: parse and plan the build for its platform, print the
    outline on stdout (warnings on stderr); nothing is pulled or built."""
    run_check(options)


def _text(path: PathText | None) -> str | None:
    return None if path is None else os.fspath(path)


def _outputs(destinations: Sequence[str]) -> dict[str, Any]:
    """Destinations as executor options: registry references, an OCI layout, an archive."""
    registry: list[str] = []
    layouts: list[str] = []
    archives: list[str] = []
    for name in destinations:
        location = parse_location(name)
        if location.kind == "docker":
            registry.append(str(location.reference))
        elif location.kind == "oci":
            layouts.append(name)
            _untagged(name, location.name)
        else:
            archives.append(name)
            _untagged(name, location.reference)
    if len(layouts) > 1 or len(archives) > 1:
        raise UsageError("build writes at most one oci: layout and one docker-archive: file")
    outputs: dict[str, Any] = {"destinations": tuple(registry), "no_push": not registry}
    if layouts:
        outputs["oci_layout_path"] = str(parse_location(layouts[0]).path)
    if archives:
        outputs["tar_path"] = str(parse_location(archives[0]).path)
    return outputs


def _untagged(name: str, tag: object) -> None:
    """The executor names local outputs after the first registry destination (else
    `latest`), as kaniko's --oci-layout-path and --tar-path do; a name of its own would be
    silently ignored, so it is refused."""
    if tag is not None:
        raise UsageError(
            f"{name!r}: the image inside is named after the first registry destination "
            "(or latest)",
            "leave out the :NAME part",
        )


def _pushed(destinations: Sequence[str], digest: str) -> list[str]:
    pushed = []
    for name in destinations:
        location = parse_location(name)
        if location.kind == "docker" and location.reference is not None:
            pushed.append(str(location.reference.with_digest(digest)))
    return pushed
