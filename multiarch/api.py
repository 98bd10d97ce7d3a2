"""multiarch's public API: load a build spec, build it (one image per platform, then the
index under every tag), and manifest-tool's push-from-spec and inspect.

Progress comes as builder.events to a callback: every platform's steps, then
PlatformStarted / PlatformFinished / PlatformFailed. Errors are builder.errors types whose
`str()` is the line the command line prints (spec errors name file:line:column).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from builder import ImageInfo, StepReport, inspect
from builder.errors import UsageError
from builder.events import EventSink, discard
from builder.oci.platform import format_platform, parse_platform
from builder.transports import parse_location
from multiarch.coordinator import BuildOptions, BuildOutcome, PlatformOutcome, run_build
from multiarch.index import IndexType
from multiarch.manifest_flags import RegistryFlags
from multiarch.manifest_run import PushSettings, push_index, sources_from_spec
from multiarch.spec import (
    BuildSpec,
    ManifestSpec,
    load_build_spec,
    load_manifest_spec,
    parse_build_spec,
    parse_manifest_spec,
    parse_runner,
)

PathText = str | os.PathLike[str]
ClientCerts = Mapping[str, tuple[PathText, PathText]]
"""Registry host -> (certificate, key) shown when it asks for one (mutual TLS)."""
Spec = BuildSpec


class PlatformResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: str
    runner: str
    digest: str | None = None
    """The platform image's manifest digest (None when its build failed)."""
    steps: tuple[StepReport, ...] = ()
    duration_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class IndexResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    digest: str | None
    """The index's digest."""
    outputs: tuple[str, ...]
    """Every output written (registry references, oci: layouts, docker-archive: files)."""
    pushed: tuple[str, ...]
    """The registry references the index was pushed under, REG/REPO:TAG each."""
    platforms: tuple[PlatformResult, ...]

    @property
    def failed(self) -> tuple[PlatformResult, ...]:
        """Platforms left out of the index (only with allow_missing / ignore_missing)."""
        return tuple(p for p in self.platforms if not p.ok)


class ManifestPushResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    digest: str
    size: int
    pushed: tuple[str, ...]


def load_spec(spec: PathText, *, env: Mapping[str, str] | None = None) -> Spec:
    """A build spec from a YAML file, or from YAML text (a str with a line break).
    `$VAR`/`${VAR:-default}` expand from `env` (default: the environment); relative paths
    in text are relative to the current directory."""
    if isinstance(spec, str) and "\n" in spec:
        return parse_build_spec(spec, Path.cwd(), env)
    return load_build_spec(Path(spec), env)


def build(
    spec: Spec | PathText,
    *,
    runners: Mapping[str, str] | None = None,
    progress: EventSink | None = None,
    jobs: int | None = None,
    ignore_missing: bool | None = None,
    insecure_registries: Sequence[str] = (),
    registry_certificates: Mapping[str, PathText] | None = None,
    registry_client_certs: ClientCerts | None = None,
    isolation: str | None = None,
) -> IndexResult:
    """Build every platform of `spec` (a Spec, or what load_spec takes) and publish the
    index to every output. `runners` maps a platform to a runner (`local`,
    `ssh://[USER@]HOST[:PORT]`) in place of the spec's; `registry_client_certs` maps a
    registry to the (certificate, key) it asks for (mutual TLS); options left as None keep
    `multiarch build`'s defaults. A failing platform raises BuildError unless the spec's
    allow_missing (or `ignore_missing`) publishes the rest: then see `IndexResult.failed`."""
    loaded = spec if isinstance(spec, BuildSpec) else load_spec(spec)
    defaults = BuildOptions()
    options = BuildOptions(
        jobs=defaults.jobs if jobs is None else jobs,
        ignore_missing=defaults.ignore_missing if ignore_missing is None else ignore_missing,
        insecure_registries=tuple(insecure_registries),
        registry_certificates=_certificate_flags(registry_certificates),
        registry_client_certs=_client_cert_flags(registry_client_certs),
        isolation=isolation,
    )
    outcome = run_build(_with_runners(loaded, runners or {}), options, progress or discard)
    return _index_result(outcome)


def manifest_push_from_spec(
    spec: PathText,
    *,
    index_type: IndexType | None = None,
    ignore_missing: bool | None = None,
    annotations: Mapping[str, str] | None = None,
    insecure: bool = False,
    username: str | None = None,
    password: str | None = None,
    docker_config: PathText | None = None,
    registry_certificates: Mapping[str, PathText] | None = None,
    registry_client_certs: ClientCerts | None = None,
) -> ManifestPushResult:
    """`multiarch manifest push from-spec`: push the index a manifest-tool YAML spec (file,
    or text with a line break) describes, once every image it names is in place."""
    if isinstance(spec, str) and "\n" in spec:
        manifest_spec: ManifestSpec = parse_manifest_spec(spec, Path.cwd())
    else:
        manifest_spec = load_manifest_spec(Path(spec))
    defaults = PushSettings()
    settings = PushSettings(
        index_type=index_type or defaults.index_type,
        ignore_missing=defaults.ignore_missing if ignore_missing is None else ignore_missing,
        annotations={**manifest_spec.annotations, **(annotations or {})},
    )
    flags = RegistryFlags(
        insecure=insecure,
        username=username,
        password=password,
        docker_cfg=Path(docker_config) if docker_config is not None else None,
        registry_certificate=_certificate_flags(registry_certificates),
        registry_client_cert=_client_cert_flags(registry_client_certs),
    )
    index, pushed = push_index(
        sources_from_spec(manifest_spec), manifest_spec.image, manifest_spec.tags, settings, flags
    )
    return ManifestPushResult(digest=index.digest, size=len(index.data), pushed=tuple(pushed))


def manifest_inspect(
    reference: str,
    *,
    insecure: bool = False,
    docker_config: PathText | None = None,
    registry_certificates: Mapping[str, PathText] | None = None,
    registry_client_certs: ClientCerts | None = None,
) -> ImageInfo:
    """`multiarch manifest inspect`: an index's platforms or an image's config and layers,
    at a registry reference, docker://, oci:DIR[:TAG] or docker-archive:FILE."""
    location = parse_location(reference)
    hosts = [location.reference.registry] if insecure and location.reference else []
    return inspect(reference, insecure_registries=hosts, docker_config=docker_config,
                   registry_certificates=registry_certificates,
                   registry_client_certs=registry_client_certs)  # fmt: skip


def _certificate_flags(certificates: Mapping[str, PathText] | None) -> tuple[str, ...]:
    """As --registry-certificate HOST=PATH values."""
    return tuple(f"{host}={os.fspath(path)}" for host, path in (certificates or {}).items())


def _client_cert_flags(client_certs: ClientCerts | None) -> tuple[str, ...]:
    """As --registry-client-cert HOST=CERT,KEY values."""
    return tuple(f"{host}={os.fspath(cert)},{os.fspath(key)}"
                 for host, (cert, key) in (client_certs or {}).items())  # fmt: skip


def _with_runners(spec: BuildSpec, runners: Mapping[str, str]) -> BuildSpec:
    if not runners:
        return spec
    wanted = {format_platform(parse_platform(name)): text for name, text in runners.items()}
    entries = []
    for entry in spec.platforms:
        text = wanted.pop(format_platform(entry.platform), None)
        if text is None:
            entries.append(entry)
            continue
        try:
            runner = parse_runner(text)
        except ValueError as err:
            raise UsageError(f"runners[{format_platform(entry.platform)!r}]: {err}") from None
        entries.append(entry.model_copy(update={"runner": runner}))
    if wanted:
        raise UsageError(f"runners: {', '.join(wanted)} is not a platform of the spec")
    return spec.model_copy(update={"platforms": entries})


def _index_result(outcome: BuildOutcome) -> IndexResult:
    return IndexResult(
        digest=outcome.index_digest,
        outputs=outcome.outputs,
        pushed=outcome.pushed,
        platforms=tuple(_platform_result(p) for p in outcome.platforms),
    )


def _platform_result(outcome: PlatformOutcome) -> PlatformResult:
    if outcome.result is None:
        return PlatformResult(platform=outcome.name, runner=outcome.runner, error=outcome.error)
    report = outcome.result.report
    return PlatformResult(
        platform=outcome.name,
        runner=outcome.runner,
        digest=report.manifest.digest,
        steps=tuple(report.steps),
        duration_s=round(outcome.result.duration_s, 3),
    )
