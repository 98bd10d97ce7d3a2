"""`multiarch executor` end to end: context -> plan -> stages -> image -> outputs -> report."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from builder.cache.build import open_build_cache
from builder.dockerfile import BaseKind, parse_dockerfile, plan_build
from builder.dockerfile.dockerignore import load_dockerignore
from builder.dockerfile.instructions import RunInstruction
from builder.dockerfile.plan import BuildPlan
from builder.errors import MultiarchError, PlatformError, UsageError
from builder.events import EventSink
from builder.attest.artifact import Sign
from builder.attest.provenance import BuildFacts
from builder.cache.keys import SourceHasher
from builder.executor.attestations import (
    AttestationSettings,
    attach_to_outputs,
    build_facts,
    image_name,
    key_variables,
    predicates,
    signer,
)
from builder.executor.autoisolation import resolve_build_isolation
from builder.executor.containerroot import (
    ContainerRootSnapshotter,
    check_container_root,
    container_root_snapshotter,
)
from builder.executor.context import context_subdir, locate_dockerfile, prepared_context
from builder.executor.environ import CREDENTIAL_VARIABLES, hide_from_proc_environ
from builder.executor.image import BuiltImage
from builder.executor.imageconfig import ImageState
from builder.executor.mountns import enter_private_mount_namespace
from builder.executor.output import (
    BuiltImageSource,
    write_digest_files,
    write_outputs,
    write_report,
)
from builder.executor.preflight import preflight
from builder.executor.progress import Progress
from builder.executor.report import BuildReport
from builder.executor.sbomjob import SbomJob
from builder.executor.session import BuildSession
from builder.executor.snapshot import LayerOptions, Snapshotter, WalkSnapshotter, make_snapshotter
from builder.executor.stage import StageExecutor
from builder.executor.steps import secret_values
from builder.oci.models import Descriptor, Platform
from builder.oci.platform import format_platform, host_platform, parse_platform
from builder.option_choices import Isolation as IsolationChoice
from builder.options import ExecutorOptions
from builder.reference import parse_reference
from builder.registry.credentials import canonical_host, read_credentials_now
from builder.registry.options import RegistryOptions, RetryPolicy
from builder.renderers import make_renderer
from builder.sandbox import ensure_emulator
from builder.sandbox.isolation import probe
from builder.sandbox.spec import Isolation
from builder.store import default_store
from builder.transports import TransportContext, parse_location

log = logging.getLogger(__name__)

# MULTIARCH_SNAPSHOTTER=overlay|walk forces one (default: overlay when it can be mounted).
_OVERLAY_OVERRIDE = {"overlay": True, "walk": False}


def run_executor(options: ExecutorOptions, on_event: EventSink | None = None) -> BuildReport:
    """Build as `options` say; progress events go to `on_event` (default: rendered on
    stderr as `options.progress` says)."""
    isolation = resolve_build_isolation(options.isolation.value)
    if isolation != options.isolation.value:
        options = options.model_copy(update={"isolation": IsolationChoice(isolation)})
    _check_options(options)
    sign = signer(options)
    sbom = SbomJob(options.sbom_format) if options.sbom else None

    enter_private_mount_namespace()
    _probe_isolation_early(options)
    started = time.monotonic()
    started_at = datetime.now(timezone.utc)
    platform = _platform(options)
    secrets = secret_values(options.secrets)
    epoch = _epoch(options)
    store = default_store(options.cache_dir)
    scratch = store.tmp_dir / f"build-{uuid.uuid4().hex[:12]}"
    ctx = TransportContext()
    renderer = None
    if on_event is None:
        renderer = on_event = make_renderer(options.progress.value)
    progress = Progress(on_event, format_platform(platform))
    try:
        with prepared_context(options.context, scratch / "context") as whole_context:
            context_dir = context_subdir(whole_context, options.context_sub_path)
            dockerfile_path = locate_dockerfile(options.dockerfile, context_dir)
            dockerfile = parse_dockerfile(_read(dockerfile_path), options.dockerfile or "Dockerfile")
            plan = plan_build(
                dockerfile, options.build_args, options.target, platform, host_platform(),
                options.build_contexts,
            )
            preflight(plan)
            for warning in plan.warnings:
                log.warning("warning: %s", warning)
            _ensure_emulators(plan)
            ctx.registry_options = _registry_options(options, _pull_hosts(plan))
            if options.isolation.value == "container-root":
                cache_repo = [options.cache_repo] if options.cache_repo else []
                hosts = {parse_reference(repo).registry for repo in cache_repo}
                ctx.registry_options = read_credentials_now(
                    ctx.registry_options, _pull_hosts(plan) | _push_hosts(options) | hosts
                )
                hide_from_proc_environ(CREDENTIAL_VARIABLES | key_variables(options))
            layer_options = LayerOptions(
                compression=options.compression.value,
                level=options.compression_level if options.compression_level >= 0 else None,
                source_date_epoch=int(epoch.timestamp()) if epoch else None,
                ignore_paths=tuple(options.ignore_paths),
            )
            full = options.snapshot_mode.value == "full"
            snapshotter: Snapshotter
            if options.isolation.value == "container-root":
                snapshotter = container_root_snapshotter(
                    scratch / "steps", store, layer_options, full=full
                )
            else:
                snapshotter = make_snapshotter(
                    scratch / "steps", store, layer_options, full=full,
                    overlay=_OVERLAY_OVERRIDE.get(os.environ.get("MULTIARCH_SNAPSHOTTER", "")),
                )
            dockerignore = load_dockerignore(context_dir, dockerfile_path)
            cache = open_build_cache(
                _without_step_cache(options), store, ctx, uses_overlay=snapshotter.uses_overlay,
                layer_settings=repr(snapshotter.options), context_dir=context_dir,
                dockerignore=dockerignore, platform=platform,
            )
            if isinstance(snapshotter, WalkSnapshotter):
                snapshotter.layer_source = cache.open_layer
            session = BuildSession(
                store=store,
                snapshotter=snapshotter,
                transport=ctx,
                progress=progress,
                context_dir=context_dir,
                dockerignore=dockerignore,
                secrets=secrets,
                build_args=dict(options.build_args),
                isolation=Isolation(options.isolation.value),
                epoch=epoch,
                cache_mounts=store.root / "run-cache",
                cache=cache,
                single_snapshot=options.single_snapshot,
                run_network=options.network.value,
                extra_hosts=tuple((entry.host, str(entry.ip)) for entry in options.add_hosts),
            )
            try:
                _build_stages(session, plan, StageExecutor)
                target = session.stages[plan.target.index]
                state: ImageState = target.state
                state.add_labels_silently(dict(options.labels))
                state.finalize(plan.target.platform)
                if sbom is not None:  # read while the image is written
                    sbom.start(session.view(target.rootfs), image_name(options), epoch)
                image = BuiltImage(state.config, target.rootfs, dict(options.annotations))
                source = BuiltImageSource(image, store)
                vertex = progress.start("exporting to image")
                cache.prepare_outputs(
                    image.rootfs, (*options.destinations, *options.push_by_digest), push=not options.no_push
                )
                written = write_outputs(
                    source,
                    ctx,
                    destinations=tuple(options.destinations),
                    push=not options.no_push,
                    oci_layout_path=options.oci_layout_path,
                    tar_path=options.tar_path,
                    origins=session.layer_origins(),
                    by_digest=options.push_by_digest,
                    on_event=progress.emit,
                    ignore_immutable_tags=options.push_ignore_immutable_tag_errors,
                )
                progress.done(vertex)
                attached = _attest(
                    options, session, source, plan, written, ctx,
                    dockerfile_path=dockerfile_path, started=started_at, epoch=epoch,
                    sbom=sbom, sign=sign,
                )
            finally:
                if sbom is not None:
                    sbom.close()
                cache.close()
                session.close()
                snapshotter.cleanup()
        manifest = source.raw.descriptor()
        write_digest_files(
            manifest.digest,
            tuple(options.destinations),
            digest_file=options.digest_file,
            name_with_digest_file=options.image_name_with_digest_file,
            name_tag_with_digest_file=options.image_name_tag_with_digest_file,
            untagged=options.push_by_digest,
        )
        report = BuildReport(
            platform=plan.target.platform,
            manifest=manifest,
            config_digest=source.config_digest,
            config_size=len(source.config),
            config=image.config,
            layers=list(source.raw.manifest().layers),
            destinations=written,
            steps=session.steps,
            attestations=attached,
            duration_s=round(time.monotonic() - started, 3),
        )
        write_report(report, options.metadata_file, options.json_result)
        return report
    finally:
        if renderer is not None:
            renderer.close()
        ctx.close()
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _attest(
    options: ExecutorOptions,
    session: BuildSession,
    source: BuiltImageSource,
    plan: BuildPlan,
    written: list[str],
    ctx: TransportContext,
    *,
    dockerfile_path: Path,
    started: datetime,
    epoch: datetime | None,
    sbom: SbomJob | None,
    sign: Sign | None,
) -> list[Descriptor]:
    """Attestations of the written image, attached beside every copy of it (after the push:
    a referrer needs its subject in place)."""
    settings = AttestationSettings.of(options, sign)
    if not settings.wanted:
        return []
    platform = plan.target.platform

    def facts() -> BuildFacts:
        hasher = SourceHasher(session.context_dir, session.dockerignore)
        return build_facts(
            options, dockerfile_path, session.context_dir, format_platform(platform),
            session.base_images(),
            started, epoch, context_digest=lambda: hasher.fingerprint((".",)),
        )

    made = predicates(settings, facts, sbom)
    return attach_to_outputs(made, source.raw.descriptor(), platform, written, ctx, settings)


def _probe_isolation_early(options: ExecutorOptions) -> None:
    """Finding which isolation works starts the sandbox helper (once per process): do it
    while the context and base images load, not at the first RUN. Silent: the first RUN
    says which mode it uses, or why none works."""
    def start() -> None:
        try:
            probe()
        except Exception:  # noqa: BLE001 (the first RUN reports it properly)
            pass

    if options.isolation.value != "container-root":
        threading.Thread(target=start, name="isolation-probe", daemon=True).start()


def _ensure_emulators(plan: BuildPlan) -> None:
    """Before any work: each foreign platform with RUN steps has an emulator here."""
    for stage in plan.stages:
        if any(isinstance(i, RunInstruction) for i in stage.instructions):
            ensure_emulator(stage.platform)


def _build_stages(
    session: BuildSession, plan: BuildPlan, executor_class: type[StageExecutor]
) -> None:
    """Stages level by level; the stages of one level (independent of each other) at once."""
    one_root = isinstance(session.snapshotter, ContainerRootSnapshotter)
    for level in plan.levels:
        stages = [plan.stage(index) for index in level]
        if len(stages) == 1 or one_root:  # container-root: one "/" for the stages in turn
            for stage in stages:
                session.stages[stage.index] = executor_class(session, plan, stage).run()
            continue
        with ThreadPoolExecutor(max_workers=min(len(stages), os.cpu_count() or 2)) as pool:
            futures = {s.index: pool.submit(executor_class(session, plan, s).run) for s in stages}
            for index, future in futures.items():
                session.stages[index] = future.result()


def _check_options(options: ExecutorOptions) -> None:
    if options.isolation.value == "container-root":
        check_container_root(options.force)
    _check_push_by_digest(options)
    if (
        not options.destinations
        and not options.push_by_digest
        and not options.no_push
        and not (options.tar_path or options.oci_layout_path)
    ):
        raise UsageError(
            "no --destination given",
            "pass --destination REF, or --no-push (with --tar-path/--oci-layout-path to keep the image)",
        )


def _without_step_cache(options: ExecutorOptions) -> ExecutorOptions:
    """--single-snapshot leaves no per-step layers to reuse: like kaniko, no cache then."""
    if not (options.single_snapshot and options.cache):
        return options
    log.warning("warning: --single-snapshot: the layer cache is not used (no per-step layers)")
    return options.model_copy(update={"cache": False})


def _check_push_by_digest(options: ExecutorOptions) -> None:
    if options.push_by_digest and options.no_push:
        raise UsageError("--push-by-digest and --no-push exclude each other")
    for repo in options.push_by_digest:
        ref = parse_reference(repo)
        if ref.tag or ref.digest:
            raise UsageError(
                f"--push-by-digest {repo!r}: name a repository, without a tag or digest",
                f"e.g. --push-by-digest {ref.repository_ref()}",
            )


def _platform(options: ExecutorOptions) -> Platform:
    if not options.custom_platform:
        return host_platform()
    try:
        return parse_platform(options.custom_platform)
    except PlatformError as err:
        raise UsageError(f"--custom-platform: {err}", err.hint) from None


def _epoch(options: ExecutorOptions) -> datetime | None:
    value = options.build_args.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
    if value is None and not options.reproducible:
        return None
    try:
        seconds = int(value) if value else 0
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds") from None
    return datetime.fromtimestamp(seconds, timezone.utc)


def _pull_hosts(plan: BuildPlan) -> set[str]:
    """Registries the plan pulls from (FROM images and COPY --from / mount from= images)."""
    names = {s.base.name for s in plan.stages if s.base.kind is BaseKind.IMAGE}
    for stage in plan.stages:
        for step in stage.steps:
            ref = getattr(step.expanded, "from_", None)
            if ref and plan.resolve_from(ref) is None and plan.local_context(ref) is None:
                names.add(plan.from_image(ref))
    hosts = set()
    for name in names:
        try:
            location = parse_location(name)
        except MultiarchError:
            continue
        if location.reference is not None and location.kind == "docker":
            hosts.add(location.reference.registry)
    return hosts


def _push_hosts(options: ExecutorOptions) -> set[str]:
    return {parse_reference(d).registry for d in (*options.destinations, *options.push_by_digest)}


def _registry_options(options: ExecutorOptions, pull_hosts: set[str]) -> RegistryOptions:
    push_hosts = _push_hosts(options)
    insecure = set(options.insecure_registries)
    insecure |= push_hosts if options.insecure else set()
    insecure |= pull_hosts if options.insecure_pull else set()
    skip_verify = set(options.skip_tls_verify_registries)
    skip_verify |= push_hosts if options.skip_tls_verify else set()
    skip_verify |= pull_hosts if options.skip_tls_verify_pull else set()
    return RegistryOptions(
        insecure=frozenset(insecure),
        skip_verify=frozenset(skip_verify),
        ca_files={host: (Path(path),) for host, path in options.registry_certificates.items()},
        client_certs={host: (Path(cert), Path(key))
                      for host, (cert, key) in options.registry_client_certs.items()},
        mirrors=_mirrors(options),
        mirror_fallback=not options.skip_default_registry_fallback,
        retry=_retry_policy(options),
    )


def _mirrors(options: ExecutorOptions) -> dict[str, tuple[str, ...]]:
    mirrors = {"docker.io": tuple(options.registry_mirrors)} if options.registry_mirrors else {}
    for registry, more in options.registry_maps.items():
        host = canonical_host(registry)
        mirrors[host] = mirrors.get(host, ()) + tuple(more)
    return mirrors


def _retry_policy(options: ExecutorOptions) -> RetryPolicy:
    """kaniko counts retries per kind (push, download); one policy serves every request:
    the most retries asked for, else the default (MULTIARCH_RETRY_ATTEMPTS)."""
    retries = max(options.push_retry, options.pull_retry)
    return RetryPolicy(attempts=retries + 1) if retries else RetryPolicy()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read Dockerfile {str(path)!r}: {err}") from None
