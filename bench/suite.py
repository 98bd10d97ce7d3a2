"""Run the workloads N times, alternating ours and buildah, and collect the figures."""

from __future__ import annotations

import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench import fixedcost, ourcli, verify
from bench.container import Container, ContainerImage
from bench.host import ensure_arm64_emulation, ensure_tools, remove_tree
from bench.images import BaseImages
from bench.measure import Measurement, measure
from bench.registry import LocalRegistry
from bench.results import (
    AttestationOverhead,
    ManifestPush,
    PlatformSpan,
    RunResult,
    SideResult,
    StepOverhead,
    SuiteResult,
    WorkloadResult,
)
from bench.sides import Buildah, Ours, Plan, Step, Target
from bench.workloads import Kind, Workload

STEP_TIMEOUT_S = 900
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    cache: Path  # tmpfs dir for base images and all build storage
    logs: Path
    runs: int | None
    quick: bool
    workloads: tuple[Workload, ...]
    ours: bool
    buildah: bool
    container: bool = False  # ours again, inside multiarch's own image under podman (issue 13)
    extras: tuple[str, ...] = ()  # fixed costs of our side: "steps", "manifest", "attest"


class _StepFailed(Exception):
    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _show(step: Step, cache: Path, registry: str) -> str:
    """The command as a reader can reuse it: the run's paths and port become variables."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in step.env)
    line = (env + " " if env else "") + shlex.join(step.argv)
    line = re.sub(re.escape(str(cache)) + r"/work-\d+", "$WORK", line).replace(registry, "$REGISTRY")
    return line.replace(ourcli.executable(), "multiarch")


def _run_steps(steps: tuple[Step, ...], log: Path) -> list[Measurement]:
    done = []
    for step in steps:
        m = measure(step.argv, env=dict(step.env), log=log, timeout_s=STEP_TIMEOUT_S)
        if not m.ok:
            line = m.first_error_line()
            raise _StepFailed(line if len(line) <= 140 else line[:139] + "…")
        done.append(m)
    return done


def _run_once(side: Buildah | Ours, plan: Plan, target: Target, registry: LocalRegistry,
              log: Path) -> RunResult:
    remove_tree(side.work)
    try:
        _run_steps(plan.warmup, log)
        if plan.between:
            remove_tree(side.work)
        before = registry.traffic()
        measured = _run_steps(plan.timed, log)
        traffic = registry.traffic() - before
        wrong = verify.problem(plan.result, target.workload.platforms)
        if wrong:
            raise _StepFailed(f"wrong result: {wrong}")
    finally:
        remove_tree(side.work)
    return RunResult(
        run=target.run,
        wall_s=sum(m.wall_s for m in measured),
        step_walls_s=tuple(m.wall_s for m in measured),
        tree_rss_peak=max(m.tree_rss_peak for m in measured),
        proc_rss_peak=max(m.proc_rss_peak for m in measured),
        bytes_up=traffic.up,
        bytes_down=traffic.down,
        requests=traffic.requests,
    )


_NOT_BUILT = re.compile(r"not (yet )?(implemented|supported|available)|no such (command|option)|"
                        r"no module named|unknown (option|flag)", re.IGNORECASE)


def _failure_kind(side: Buildah | Ours, line: str) -> str:
    return "not available yet" if isinstance(side, Ours) and _NOT_BUILT.search(line) else "failed"


def _runs_for(w: Workload, opts: Options) -> int:
    if opts.runs is not None:
        return opts.runs
    return w.quick_runs if opts.quick else 5


def _run_workload(w: Workload, sides: list[Buildah | Ours], registry: LocalRegistry,
                  work: Path, opts: Options) -> WorkloadResult:
    context = w.prepare_context(work / "contexts" / w.key)
    runs: dict[str, list[RunResult]] = {s.name: [] for s in sides}
    errors: dict[str, str | None] = {}
    commands: dict[str, tuple[str, ...]] = {}
    for s in sides:
        missing = s.unavailable(w.kind)
        errors[s.name] = f"not available yet: {missing}" if missing else None
    for i in range(1, _runs_for(w, opts) + 1):
        order = sides if i % 2 else list(reversed(sides))
        for s in order:
            if errors[s.name]:
                continue
            target = Target(w, context, registry.host, i)
            plan = s.plan(target)
            commands[s.name] = tuple(_show(step, opts.cache, registry.host) for step in plan.timed)
            log = opts.logs / f"{w.key}-{s.name}-run{i}.log"
            log.unlink(missing_ok=True)
            try:
                r = _run_once(s, plan, target, registry, log)
            except _StepFailed as failed:
                shown = os.path.relpath(log, REPO)
                errors[s.name] = f"{_failure_kind(s, failed.line)}: {failed.line} (log: {shown})"
                print(f"  {w.key} {s.name} run {i}: {errors[s.name]}", flush=True)
                continue
            runs[s.name].append(r)
            print(f"  {w.key} {s.name} run {i}: {r.wall_s:.2f} s, tree RSS "
                  f"{r.tree_rss_peak / 2**20:.0f} MiB, pushed {r.bytes_up / 2**20:.1f} MiB "
                  f"in {r.requests} requests", flush=True)
    timeline: tuple[PlatformSpan, ...] = ()
    if w.kind is Kind.MULTI and runs.get("ours"):
        last = opts.logs / f"{w.key}-ours-run{runs['ours'][-1].run}.log"
        timeline = fixedcost.platform_timeline(last.read_text(errors="replace").splitlines())
    return WorkloadResult(
        key=w.key, title=w.title, anchor=w.anchor, goal=w.goal, timeline=timeline,
        sides=tuple(SideResult(side=s.name, commands=commands.get(s.name, ()),
                               runs=tuple(runs[s.name]), error=errors[s.name]) for s in sides),
    )


def _attestations(registry: LocalRegistry, work: Path,
                  opts: Options) -> AttestationOverhead | None:
    if "attest" not in opts.extras:
        return None
    print("bench: attestations overhead (w1, w3 with and without --provenance)", flush=True)
    result = fixedcost.attestation_overhead(registry, work, 3 if opts.quick else 6,
                                            opts.logs / "attest.log")
    print("  " + ", ".join(f"{k} ×{result.ratio(k):.3f}" for k in result.keys), flush=True)
    return result


def _fixed_costs(registry: LocalRegistry, work: Path,
                 opts: Options) -> tuple[StepOverhead | None, ManifestPush | None]:
    overhead = push = None
    if "steps" in opts.extras:
        print("bench: per-step overhead", flush=True)
        overhead = fixedcost.step_overhead(registry, work, 4 if opts.quick else 8,
                                           opts.logs / "steps.log")
        print(f"  RUN {overhead.run_ms:.1f} ms ({overhead.run_cpu_ms or 0:.1f} ms CPU), metadata "
              f"{overhead.metadata_ms:.1f} ms ({overhead.metadata_cpu_ms or 0:.1f} ms CPU) per step",
              flush=True)
    if "manifest" in opts.extras:
        print("bench: manifest push from-spec, 2 platforms", flush=True)
        push = fixedcost.manifest_push(registry, work, 7 if opts.quick else 20,
                                       opts.logs / "manifest-push.log")
        print(f"  {push.median_ms:.0f} ms ({push.cpu_median_ms or 0:.0f} ms CPU), "
              f"{push.requests:.0f} requests", flush=True)
    return overhead, push


def _startup_s() -> float | None:
    if ourcli.unavailable("executor"):
        return None
    return statistics.median(measure([ourcli.executable(), "executor", "--help"]).wall_s
                             for _ in range(5))


def _compile_bytecode() -> None:
    """As an installed package has it: without .pyc files (PYTHONDONTWRITEBYTECODE in this
    environment, or a fresh checkout) every run of ours would compile its modules first."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "builder"),
                    str(REPO / "multiarch")], check=True, capture_output=True)


def run_suite(opts: Options) -> SuiteResult:
    ensure_tools()
    _compile_bytecode()
    if any(w.emulated for w in opts.workloads):
        ensure_arm64_emulation()
    opts.logs.mkdir(parents=True, exist_ok=True)
    base = BaseImages(opts.cache)
    base.ensure_built()
    work = opts.cache / f"work-{os.getpid()}"  # concurrent suites must not wipe each other
    remove_tree(work)
    sides: list[Buildah | Ours] = []
    if opts.ours:
        sides.append(Ours(work / "ours"))
    image = ContainerImage(work / "podman")
    if opts.container:
        image.load()
        sides.append(Container(work / "container", image))
    if opts.buildah:
        sides.append(Buildah(work / "buildah"))
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    results = []
    try:
        with LocalRegistry(work / "registry") as registry:
            base.push(registry.host)
            for w in opts.workloads:
                print(f"bench: {w.title}", flush=True)
                results.append(_run_workload(w, sides, registry, work, opts))
            overhead, push = _fixed_costs(registry, work, opts) if opts.ours else (None, None)
            attestations = _attestations(registry, work, opts) if opts.ours else None
        container_start = image.start_s() if opts.container else None
    finally:
        remove_tree(work)
    return SuiteResult(
        started=started,
        command=shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
        host=f"{platform.node()} {platform.platform()}, {os.cpu_count()} CPUs",
        storage=f"tmpfs ({opts.cache})",
        runs=max((_runs_for(w, opts) for w in opts.workloads), default=0),
        quick=opts.quick,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        ours_startup_s=_startup_s() if opts.ours else None,
        container_start_s=container_start,
        workloads=tuple(results),
        step_overhead=overhead,
        manifest_push=push,
        attestations=attestations,
    )
