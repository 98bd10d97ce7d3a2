"""`multiarch build`: one multi-arch image from a spec (or buildx-style flags).

Fan-out: one job per platform on its runner, at most `--jobs` at a time; each job leaves its
image in a per-platform OCI layout. Fan-in: when every job succeeded (or `allow_missing`),
the images go to each output — a registry (images by digest, blobs shared between platforms
uploaded once, the index last under every tag), an `oci:` layout holding the whole index
(the default output), or one docker archive per platform.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import click
from pydantic import ValidationError

from builder import BuildReport, check, executor_options, resolve_build_isolation
from builder.attest import parse_provenance, parse_sbom
from builder.errors import BuildError, MultiarchError, UsageError
from builder.events import (
    EventSink,
    PlatformFailed,
    PlatformFinished,
    PlatformStarted,
    discard,
)
from builder.log import redact, setup_logging
from builder.reference import Reference, parse_reference
from builder.registry.options import RegistryOptions, parse_ca_files, parse_client_certs
from builder.transports import (
    Location,
    TransportContext,
    copy_image,
    open_destination,
    open_source,
    parse_location,
)
from multiarch.build_flags import DEFAULT_JOBS, BuildFlags
from multiarch.buildx_options import refuse_unsupported, with_buildx_flags
from multiarch.index import ATTESTATION_ENTRY, IndexEntry, assemble_index, index_annotations
from multiarch.plan import BuildPlan, PlatformJob, make_plan
from multiarch.progress import Reporter
from multiarch.publish import PlacedImage, open_pinned, publish, target_tags
from multiarch.runners import JobResult
from multiarch.runners.local import emulation_note, run_local
from multiarch.runners.ssh import run_ssh
from multiarch.sources import Missing, SourceImage, resolve_all
from multiarch.spec import BuildSpec, GitLabRunner, ManifestPlatform, SSHRunner, load_build_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    """Command-line settings beyond the spec."""

    jobs: int = DEFAULT_JOBS
    ignore_missing: bool = False
    insecure: bool = False
    """Plain HTTP / unverified TLS for every registry the build pushes to (kaniko's and
    manifest-tool's --insecure); `for_spec` turns it into those registries' names."""
    insecure_registries: tuple[str, ...] = ()
    registry_certificates: tuple[str, ...] = ()
    registry_client_certs: tuple[str, ...] = ()
    """HOST=CERT,KEY: mutual TLS for the executors and the index push alike."""
    isolation: str | None = None
    metadata_file: Path | None = None
    dotenv: Path | None = None
    workdir: Path | None = None
    """Where per-platform results go while building (default: a temp dir, removed after)."""

    def __post_init__(self) -> None:
        # A malformed value fails now, not after every platform is built.
        self.ca_files()
        parse_client_certs(self.registry_client_certs)

    def ca_files(self) -> dict[str, tuple[Path, ...]]:
        return parse_ca_files(self.registry_certificates)

    def for_spec(self, spec: BuildSpec) -> BuildOptions:
        """These options with --insecure resolved to the spec's registry outputs, so every
        executor and the publishing step relax exactly those hosts."""
        if not self.insecure:
            return self

        hosts = {
            location.reference.registry
            for location in map(parse_location, spec.outputs())
            if location.kind == "docker" and location.reference is not None
        }
        named = self.insecure_registries
        extra = tuple(sorted(hosts - set(named)))
        return replace(self, insecure=False, insecure_registries=named + extra)

    def executor_flags(self) -> tuple[str, ...]:
        flags: list[str] = []
        for host in self.insecure_registries:
            flags += ["--insecure-registry", host]
        for pair in self.registry_certificates:
            flags += ["--registry-certificate", pair]
        for pair in self.registry_client_certs:
            flags += ["--registry-client-cert", pair]
        if self.isolation:
            flags += ["--isolation", self.isolation]
        return tuple(flags)

    def transport_context(self) -> TransportContext:
        options = RegistryOptions(
            insecure=frozenset(self.insecure_registries), ca_files=self.ca_files(),
            client_certs=parse_client_certs(self.registry_client_certs),
        )
        return TransportContext(registry_options=options)


@dataclass(frozen=True)
class PlatformOutcome:
    name: str
    runner: str
    result: JobResult | None = None
    """Set when the job succeeded."""
    error: str | None = None


@dataclass(frozen=True)
class BuildOutcome:
    index_digest: str | None
    outputs: tuple[str, ...]
    platforms: tuple[PlatformOutcome, ...]
    pushed: tuple[str, ...] = ()
    """Registry references the index was pushed under, REG/REPO:TAG each."""

    @property
    def failed(self) -> list[PlatformOutcome]:
        return [p for p in self.platforms if p.error is not None]


def run_build(
    spec: BuildSpec, options: BuildOptions, on_event: EventSink = discard
) -> BuildOutcome:
    """Build every platform of `spec` and publish the index to every output; platforms and
    their steps are reported to `on_event` as they go."""
    options = options.for_spec(spec)
    plan = make_plan(spec, options.executor_flags(), _checked_sign_key(spec))
    for job in plan.jobs:
        if isinstance(job.runner, GitLabRunner):
            raise UsageError(
                f"{job.name} is built by a GitLab job; write the child pipeline with "
                "`multiarch ci gitlab SPEC.yaml` instead"
            )
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="multiarch-build-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        outcomes = _run_jobs(plan, workdir, options, on_event)
        failed = [o for o in outcomes if o.error is not None]
        allow_missing = spec.allow_missing or options.ignore_missing
        if failed and (not allow_missing or len(failed) == len(outcomes)):
            raise BuildError(
                f"{len(failed)} of {len(outcomes)} platforms failed, nothing published: "
                + "; ".join(f"{o.name}: {o.error}" for o in failed),
                hint=None
                if allow_missing
                else "allow_missing: true (or --ignore-missing) publishes the rest",
            )
        outcome = _publish(spec, options, [o for o in outcomes if o.error is None], outcomes)
    finally:
        if options.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    _write_reports(outcome, options, spec)
    return outcome


def _checked_sign_key(spec: BuildSpec) -> str | None:
    """Where the attestations' signing key is (the spec's or --sign-key, else
    $MULTIARCH_SIGN_KEY when set), the key loaded once here so a bad one fails before any
    platform builds."""
    # Lazy: securesystemslib and pyca/cryptography (~55 ms), for signing builds only.
    from builder.attest import key_reference, load_signing_key

    source = key_reference(spec.sign_key)
    if source is not None:
        log.info("signing attestations with %s", load_signing_key(source))
    return source


def _run_jobs(
    plan: BuildPlan, workdir: Path, options: BuildOptions, on_event: EventSink
) -> list[PlatformOutcome]:
    def one(job: PlatformJob) -> PlatformOutcome:
        remote = isinstance(job.runner, SSHRunner)
        runner = str(job.runner) if remote else f"local ({emulation_note(job)})"
        on_event(PlatformStarted(platform=job.name, runner=runner))
        try:
            result = (run_ssh if remote else run_local)(plan, job, workdir, on_event)
        except MultiarchError as err:
            on_event(PlatformFailed(platform=job.name, message=redact(err.message)))
            return PlatformOutcome(job.name, runner, error=err.message)
        on_event(
            PlatformFinished(
                platform=job.name,
                digest=result.report.manifest.digest,
                duration_s=round(result.duration_s, 3),
                size=_image_size(result.report),
            )
        )
        return PlatformOutcome(job.name, runner, result=result)

    with ThreadPoolExecutor(max_workers=max(1, min(options.jobs, len(plan.jobs)))) as pool:
        return list(pool.map(one, plan.jobs))


def _publish(
    spec: BuildSpec,
    options: BuildOptions,
    done: list[PlatformOutcome],
    everything: list[PlatformOutcome],
) -> BuildOutcome:
    ctx = options.transport_context()
    try:
        sources: list[SourceImage | Missing] = []
        for outcome in done:
            assert outcome.result is not None
            job = outcome.result.job
            platform = ManifestPlatform.of(job.platform)
            described = spec.annotations_for("manifest-descriptor", job.name)
            # Referrers are tagged only now that every platform is built.
            deferred = (tuple(outcome.result.report.attestations)
                        if spec.attest_format != "buildkit" else None)
            sources.append(SourceImage(str(outcome.result.image), job.name, platform, described,
                                       deferred))
        placed: list[PlacedImage] = []
        for resolved in resolve_all(sources, ctx):
            assert not isinstance(resolved, Missing), resolved
            placed.append(resolved)
        if spec.attest_format == "buildkit":
            placed += _buildkit_attestations(done, ctx)
        annotations = index_annotations(spec.annotations_for("index", ""), os.environ)
        index = assemble_index([p.entry for p in placed], spec.index_type, annotations)
        written: list[str] = []
        pushed: list[str] = []
        for name in spec.outputs():
            location = parse_location(name)
            if location.kind == "docker-archive":
                written += _write_archives(placed, location, spec, ctx)
                continue
            tags = target_tags(location, spec.tags) or ["latest"]
            publish(placed, index, location, tags, ctx)
            written.append(name)
            if location.kind == "docker" and location.reference is not None:
                repository = location.reference.repository_ref()
                pushed += [str(repository.with_tag(tag)) for tag in tags]
    finally:
        ctx.close()
    return BuildOutcome(index.digest, tuple(written), tuple(everything), tuple(pushed))


def _buildkit_attestations(
    done: Sequence[PlatformOutcome], ctx: TransportContext
) -> list[PlacedImage]:
    """The attestation manifests each platform's build pushed (--attest-format buildkit),
    as index entries beside the images (unknown/unknown, naming their image's digest)."""
    placed = []
    for outcome in done:
        assert outcome.result is not None
        for entry in outcome.result.report.attestations:
            source = open_source(outcome.result.image, ctx)
            try:
                raw = source.get_manifest(entry.digest)
            finally:
                source.close()
            assert entry.platform is not None and entry.annotations is not None
            index_entry = IndexEntry(raw, entry.platform, dict(entry.annotations))
            placed.append(PlacedImage(index_entry, outcome.result.image))
    return placed


def _write_archives(
    placed: Sequence[PlacedImage], location: Location, spec: BuildSpec, ctx: TransportContext
) -> list[str]:
    """One docker archive per platform: FILE.tar becomes FILE-linux-arm64.tar."""
    path = location.path
    assert path is not None
    reference = _archive_reference(location, spec)
    written = []
    for item in placed:
        if ATTESTATION_ENTRY.items() <= item.entry.annotations.items():
            continue  # a docker archive holds images only
        slug = str(item.entry.platform).replace("/", "-")
        target = path.with_name(f"{path.stem}-{slug}{path.suffix or '.tar'}")
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = open_destination(Location("docker-archive", path=target, reference=reference), ctx)
        src = open_pinned(item, ctx)
        try:
            copy_image(src, dst)
        finally:
            src.close()
            dst.close()
        written.append(f"docker-archive:{target}")
    return written


def _archive_reference(location: Location, spec: BuildSpec) -> Reference | None:
    """The name inside an archive: the output's own, else the spec's image (and first tag)."""
    if location.reference is not None or not spec.image:
        return location.reference

    reference = parse_reference(spec.image)
    return reference.with_tag(spec.tags[0]) if spec.tags and not reference.tag else reference


def _image_size(report: BuildReport) -> int | None:
    """Config and layers, from the build's own report (no fetch of what it just wrote);
    None from a remote executor whose report lacks the config's size."""
    if report.config_size is None:
        return None
    return report.config_size + sum(layer.size for layer in report.layers)


def _write_reports(outcome: BuildOutcome, options: BuildOptions, spec: BuildSpec) -> None:
    if options.metadata_file:
        data = {
            "containerimage.digest": outcome.index_digest,
            "image.name": ",".join(outcome.outputs),
            "platforms": [_platform_metadata(o) for o in outcome.platforms],
        }
        options.metadata_file.write_text(json.dumps(data, indent=2) + "\n")
    if options.dotenv:
        lines = [f"IMAGE_DIGEST={outcome.index_digest}"]
        if spec.image:
            lines.append(f"IMAGE={spec.image}")
        options.dotenv.write_text("\n".join(lines) + "\n")


def _platform_metadata(o: PlatformOutcome) -> dict[str, object]:
    """One platform in --metadata-file's JSON."""
    entry: dict[str, object] = {
        "platform": o.name,
        "runner": o.runner,
        "status": "failed" if o.error else "ok",
    }
    if o.error:
        entry["error"] = o.error
    if o.result is not None:
        entry["digest"] = o.result.report.manifest.digest
        entry["duration_s"] = round(o.result.duration_s, 3)
    return entry


# ----------------------------------------------------------------------- the command


def spec_from_flags(
    context: str,
    platforms: str,
    tags: Sequence[str],
    dockerfile: str | None,
    build_args: Sequence[str],
    target: str | None,
    outputs: Sequence[str],
    index_type: str,
) -> BuildSpec:
    """A BuildSpec from buildx-style flags; validation errors name the flag."""
    images: list[str] = []
    extra_tags: list[str] = []
    for tag in tags:
        ref = parse_reference(tag)
        if images and ref.repository_ref() == parse_reference(images[0]).repository_ref():
            extra_tags.append(ref.tag or "latest")
        else:
            images.append(tag)
    args = {}
    for pair in build_args:
        key, eq, value = pair.partition("=")
        args[key] = value if eq else os.environ.get(key, "")
    data = {
        "context": context,
        "platforms": [p.strip() for p in platforms.split(",") if p.strip()],
        "build_args": args,
        "index_type": index_type,
        "destinations": images[1:] + list(outputs),
        "tags": extra_tags,
        **({"image": images[0]} if images else {}),
        **({"dockerfile": dockerfile} if dockerfile else {}),
        **({"target": target} if target else {}),
    }
    try:
        return BuildSpec.model_validate(data, context={"base_dir": Path.cwd()})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first.get("ctx", {}).get("error", first["msg"]))
        raise UsageError(f"{where}: {message}") from None


def _spec_from_file(path: Path, outputs: Sequence[str], index_type: str | None) -> BuildSpec:
    spec = load_build_spec(path)
    updates: dict[str, object] = {}
    if outputs:
        updates["destinations"] = [*spec.destinations, *outputs]
    if index_type:
        updates["index_type"] = index_type
    return spec.model_copy(update=updates)


def _with_attestations(spec: BuildSpec, flags: BuildFlags) -> BuildSpec:
    """--provenance, --sbom, --sbom-format and --attest-format override the spec's settings."""
    updates: dict[str, object] = {}
    if flags.provenance is not None:
        try:
            updates["provenance"] = parse_provenance(flags.provenance).value
        except ValueError as err:
            raise UsageError(f"--provenance {err}") from None
    if flags.sbom is not None:
        try:
            updates["sbom"] = parse_sbom(flags.sbom)
        except ValueError as err:
            raise UsageError(
                f"--sbom {err}",
                "multiarch makes the SBOM itself (no generator image); "
                "--sbom-format picks SPDX or CycloneDX",
            ) from None
    if flags.sbom_format is not None:
        updates["sbom_format"] = flags.sbom_format
    if flags.attest_format is not None:
        updates["attest_format"] = flags.attest_format
    return spec.model_copy(update=updates) if updates else spec


def _check_platforms(spec: BuildSpec) -> None:
    """`--call check`: the executor's --check for every platform (parse and plan, print the
    outline; nothing pulled or built)."""
    plan = make_plan(spec)
    for job in plan.jobs:
        click.echo(f"# {job.name}")
        argv = plan.flags_for(job, context=str(spec.context), dockerfile=str(job.dockerfile))
        check(executor_options([*argv, "--check"]))


def build_command(flags: BuildFlags) -> None:
    """`multiarch build` with its flags (declared in `multiarch.build_command`)."""
    refuse_unsupported(flags)
    given = flags.spec_or_context or "."
    if Path(given).is_file() and given.endswith((".yaml", ".yml")):
        if flags.platforms or flags.tags or flags.dockerfile or flags.build_args or flags.target:
            raise UsageError(
                "--platform/-t/-f/--build-arg/--target are for the flag form; put them in the spec"
            )
        spec = _spec_from_file(Path(given), flags.outputs, flags.index_type)
    else:
        if not flags.platforms:
            raise UsageError(f"{given!r} is not a spec file; the flag form needs --platform")
        spec = spec_from_flags(
            given,
            flags.platforms,
            flags.tags,
            flags.dockerfile,
            flags.build_args,
            flags.target,
            flags.outputs,
            flags.index_type or "oci",
        )
    spec = _with_attestations(spec, flags)
    if flags.sign_key:
        spec = spec.model_copy(update={"sign_key": flags.sign_key})
    spec = with_buildx_flags(spec, flags)
    if flags.check or flags.call == "check":
        _check_platforms(spec)
        return
    isolation = resolve_build_isolation(flags.isolation or "auto")
    # container-root: one root, the platforms take turns in it
    jobs = 1 if isolation == "container-root" else flags.jobs
    options = BuildOptions(
        jobs=jobs,
        ignore_missing=flags.ignore_missing,
        insecure=flags.insecure,
        insecure_registries=flags.insecure_registry,
        registry_certificates=flags.registry_certificate,
        registry_client_certs=flags.registry_client_cert,
        isolation=isolation,
        metadata_file=flags.metadata_file,
        dotenv=flags.dotenv,
    )
    progress = "quiet" if flags.quiet else flags.progress
    if progress == "json":  # stderr: one JSON object per line, log records too
        setup_logging(logging.getLevelName(logging.getLogger().level).lower(), "json")
    started = time.monotonic()
    reporter = Reporter(progress)
    try:
        outcome = run_build(spec, options, reporter)
    finally:
        reporter.summary()
    if outcome.failed:
        skipped = ", ".join(o.name for o in outcome.failed)
        reporter.line(f"published without {skipped} (allow_missing)", "yellow")
    if flags.iidfile:
        flags.iidfile.write_text(f"{outcome.index_digest}")
    if flags.quiet:  # buildx -q: the digest alone
        click.echo(outcome.index_digest)
    else:
        click.echo(f"Digest: {outcome.index_digest}")
        for name in outcome.outputs:
            click.echo(f"wrote {name}")
    if outcome.failed:
        names = ", ".join(o.name for o in outcome.failed)
        raise BuildError(
            f"{len(outcome.failed)} platform(s) failed: {names} "
            f"(the index of the rest was published in {time.monotonic() - started:.1f}s)"
        )
