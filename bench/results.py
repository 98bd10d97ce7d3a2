"""Bench results: the typed record (saved as results.json) and its markdown rendering."""

from __future__ import annotations

import statistics

from pydantic import BaseModel, ConfigDict

MIB = 1 << 20


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunResult(_Frozen):
    run: int
    wall_s: float
    step_walls_s: tuple[float, ...]
    tree_rss_peak: int  # bytes, whole process tree, sampled every ~20 ms
    proc_rss_peak: int  # bytes, largest single process (wait4 rusage)
    bytes_up: int  # bytes clients sent to the registry during the timed steps
    bytes_down: int
    requests: int = 0  # registry requests during the timed steps (its access log)


class SideResult(_Frozen):
    side: str
    commands: tuple[str, ...] = ()
    runs: tuple[RunResult, ...] = ()
    error: str | None = None

    def _walls(self) -> list[float]:
        return [r.wall_s for r in self.runs]

    @property
    def usable(self) -> bool:
        return self.error is None and bool(self.runs)

    @property
    def median_s(self) -> float:
        return statistics.median(self._walls())

    @property
    def min_s(self) -> float:
        return min(self._walls())

    @property
    def max_s(self) -> float:
        return max(self._walls())

    @property
    def tree_rss_mib(self) -> float:
        return max(r.tree_rss_peak for r in self.runs) / MIB

    @property
    def proc_rss_mib(self) -> float:
        return max(r.proc_rss_peak for r in self.runs) / MIB

    @property
    def pushed_mib(self) -> float:
        return statistics.median(r.bytes_up for r in self.runs) / MIB

    @property
    def requests(self) -> float:
        return statistics.median(r.requests for r in self.runs)


class Anchor(_Frozen):
    """A workload's figures from shared/anchors.md (another session, same kind of machine)."""

    kaniko_s: float | None = None
    kaniko_rss_mib: float | None = None
    buildah_s: float | None = None

    @property
    def kaniko_ratio(self) -> float | None:
        if self.kaniko_s is None or self.buildah_s is None:
            return None
        return self.kaniko_s / self.buildah_s


class PlatformSpan(_Frozen):
    """One platform of `multiarch build`, seconds from the first platform's start."""

    platform: str
    start_s: float
    end_s: float
    pull: tuple[float, float] | None = None
    """The FROM step: base manifest, config and layers."""
    run_steps: tuple[tuple[float, float], ...] = ()
    """(start, end) of each RUN step."""
    push: tuple[float, float] | None = None
    """The export: layers, config and manifest pushed."""


class WorkloadResult(_Frozen):
    key: str
    title: str
    anchor: Anchor = Anchor()
    goal: float | None = None
    """Issue 16's goal: ours/kaniko at most this."""
    sides: tuple[SideResult, ...]
    timeline: tuple[PlatformSpan, ...] = ()
    """Multi-platform builds: when each platform ran, in our last run."""

    def side(self, name: str) -> SideResult | None:
        return next((s for s in self.sides if s.side == name), None)


class StepOverhead(_Frozen):
    """Fixed cost per step: the fastest build with extra steps less the fastest without,
    divided by their number (tiny RUN steps `touch /fN`; metadata steps `ENV`). The
    fastest, not the median: on a shared machine a run only ever gets slower."""

    base_s: tuple[float, ...]
    with_runs_s: tuple[float, ...]
    with_metadata_s: tuple[float, ...]
    extra_runs: int
    extra_metadata: int
    base_cpu_s: tuple[float, ...] = ()
    """CPU seconds of the same builds (the command and all it waited for)."""
    with_runs_cpu_s: tuple[float, ...] = ()
    with_metadata_cpu_s: tuple[float, ...] = ()

    @property
    def run_ms(self) -> float:
        return 1000 * (min(self.with_runs_s) - min(self.base_s)) / self.extra_runs

    @property
    def metadata_ms(self) -> float:
        return 1000 * (min(self.with_metadata_s) - min(self.base_s)) / self.extra_metadata

    @property
    def run_cpu_ms(self) -> float | None:
        return _cpu_delta_ms(self.with_runs_cpu_s, self.base_cpu_s, self.extra_runs)

    @property
    def metadata_cpu_ms(self) -> float | None:
        return _cpu_delta_ms(self.with_metadata_cpu_s, self.base_cpu_s, self.extra_metadata)


def _cpu_delta_ms(more: tuple[float, ...], base: tuple[float, ...], steps: int) -> float | None:
    if not more or not base:
        return None
    return 1000 * (statistics.median(more) - statistics.median(base)) / steps


class ManifestPush(_Frozen):
    """`multiarch manifest push from-spec` of a 2-platform index, wall seconds per round."""

    rounds_s: tuple[float, ...]
    cpu_s: tuple[float, ...] = ()
    """CPU seconds (user + system) per round: what load on the machine disturbs far less."""
    requests: float = 0
    """Registry requests per push (median)."""
    manifest_tool_ms: float = 27.0  # shared/anchors.md (2026-12)
    goal_ms: float = 80.0  # issue 16: at most 3× manifest-tool

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.rounds_s)

    @property
    def cpu_median_ms(self) -> float | None:
        return 1000 * statistics.median(self.cpu_s) if self.cpu_s else None

    @property
    def min_ms(self) -> float:
        return 1000 * min(self.rounds_s)


class AttestationOverhead(_Frozen):
    """Build + push wall seconds per run, keyed `w1`, `w1+provenance`, `w3`, ..."""

    walls_s: dict[str, tuple[float, ...]]
    cpus_s: dict[str, tuple[float, ...]] = {}
    """CPU seconds of the same builds (the command and all it waited for): load disturbs
    them far less than wall time."""
    goal: float = 1.10  # issue 17: attestations add at most 10% to w1 and w3

    def ratio(self, key: str, of: str = "wall", variant: str = "+provenance") -> float:
        runs = self.walls_s if of == "wall" else self.cpus_s
        return statistics.median(runs[f"{key}{variant}"]) / statistics.median(runs[key])

    @property
    def variants(self) -> list[str]:
        """The attested variants measured, e.g. `+provenance`, `+provenance+sbom`."""
        return list(dict.fromkeys(k[k.index("+"):] for k in self.walls_s if "+" in k))

    @property
    def keys(self) -> list[str]:
        return [k for k in self.walls_s if "+" not in k]


class SuiteResult(_Frozen):
    started: str
    command: str
    host: str
    storage: str
    runs: int
    quick: bool
    load_before: float  # 1-minute load average: other work on the machine skews both sides
    load_after: float
    ours_startup_s: float | None = None  # `multiarch executor --help`, median of 5
    container_start_s: float | None = None
    """`podman run` of `/bin/true` in multiarch's own image (debug), median of 5."""
    workloads: tuple[WorkloadResult, ...]
    step_overhead: StepOverhead | None = None
    manifest_push: ManifestPush | None = None
    attestations: AttestationOverhead | None = None


def _wall(side: SideResult | None) -> str:
    if side is None:
        return "skipped (by option)"
    if not side.usable:
        return side.error or "no runs"
    return f"{side.median_s:.2f} ({side.min_s:.2f}–{side.max_s:.2f})"


def _rss(side: SideResult | None) -> str:
    if side is None or not side.usable:
        return "—"
    return f"{side.tree_rss_mib:.0f} / {side.proc_rss_mib:.0f}"


def _pushed(side: SideResult | None) -> str:
    if side is None or not side.usable:
        return "—"
    return f"{side.pushed_mib:.2f}, {side.requests:.0f}"


def _ratio(ours: SideResult | None, buildah: SideResult | None, value: str) -> str:
    if ours is None or buildah is None or not ours.usable or not buildah.usable:
        return "—"
    if value == "time":
        return f"{ours.median_s / buildah.median_s:.2f}"
    return f"{ours.tree_rss_mib / buildah.tree_rss_mib:.2f}"


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _speed_factor(result: SuiteResult) -> float | None:
    """This machine's buildah time over the anchor machine's (median over workloads)."""
    factors = []
    for w in result.workloads:
        buildah = w.side("buildah")
        if buildah is not None and buildah.usable and w.anchor.buildah_s:
            factors.append(buildah.median_s / w.anchor.buildah_s)
    return statistics.median(factors) if factors else None


def _speed(result: SuiteResult) -> str:
    factor = _speed_factor(result)
    return f"at {factor:.2f}×" if factor is not None else "at an unknown multiple of"


def _vs_kaniko(w: WorkloadResult, factor: float | None) -> float | None:
    """ours / kaniko's estimated time here: kaniko/buildah (anchors) × buildah (this run),
    or where the anchors lack buildah, kaniko's anchor seconds × this machine's speed."""
    ours, buildah = w.side("ours"), w.side("buildah")
    if ours is None or not ours.usable:
        return None
    if w.anchor.kaniko_ratio is not None and buildah is not None and buildah.usable:
        return ours.median_s / (w.anchor.kaniko_ratio * buildah.median_s)
    if w.anchor.kaniko_s is not None and factor is not None:
        return ours.median_s / (w.anchor.kaniko_s * factor)
    return None


def _goal(w: WorkloadResult) -> str:
    return "—" if w.goal is None else f"≤ {w.goal:.2f}"


def _span(span: tuple[float, float]) -> str:
    return f"{span[0]:.2f}–{span[1]:.2f}"


def _timeline(w: WorkloadResult) -> list[str]:
    if not w.timeline:
        return []
    lines = [f"### {w.title}: when each platform ran (our last run)", "",
             "Seconds from the first platform's start.", "",
             "| platform | start–end | pull (FROM) | RUN steps | push |", "|---|---|---|---|---|"]
    for p in w.timeline:
        runs = ", ".join(_span(r) for r in p.run_steps) or "—"
        lines.append(f"| {p.platform} | {_span((p.start_s, p.end_s))} "
                     f"| {_span(p.pull) if p.pull else '—'} | {runs} "
                     f"| {_span(p.push) if p.push else '—'} |")
    overlap = min(p.end_s for p in w.timeline) - max(p.start_s for p in w.timeline)
    lines += ["", f"Both platforms running at once for {max(overlap, 0):.2f} s.", ""]
    return lines


def _spread(walls: tuple[float, ...]) -> str:
    return f"{statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f})"


def _overhead(ms: float) -> str:
    # Below zero: the added steps cost less than the load's noise on the base build.
    return f"{ms:.1f}" if ms >= 0 else f"lost in the noise ({ms:.1f})"


def _fixed_costs(result: SuiteResult) -> list[str]:
    lines: list[str] = []
    o = result.step_overhead
    if o is not None:
        lines += [
            "## Per-step overhead (ours)", "",
            (f"Fastest build ({len(o.base_s)} runs each, alternating, `--no-push`) of a busybox "
             f"image with one RUN step, less the same with {o.extra_runs} more tiny RUN steps "
             f"(`RUN touch /fN`) or {o.extra_metadata} more metadata steps (`ENV`), per "
             "added step; and the same from the median CPU time of the builds (user + system, "
             "the command and every process it waited for), which load disturbs far less:"), "",
            "| step | wall ms | CPU ms |", "|---|---|---|",
            (f"| RUN (sandbox, snapshot, tiny layer) | {_overhead(o.run_ms)} "
             f"| {_num(o.run_cpu_ms, 1)} |"),
            f"| metadata (ENV) | {_overhead(o.metadata_ms)} | {_num(o.metadata_cpu_ms, 1)} |", "",
        ]
    a = result.attestations
    if a is not None:
        lines += [
            "## Attestations overhead (ours)", "",
            ("Build and push (`executor --destination`, cold store), without and with "
             "`--provenance` (mode=min, the default of `multiarch build` for registry pushes: "
             "a statement, its artifact manifest and the referrers tag), and with `--sbom` "
             "too, runs alternating:"), "",
            "| workload | attestations | without s, median (min–max) | with s, median (min–max) "
            "| with / without | CPU with / without | goal |", "|---|---|---|---|---|---|---|",
        ]
        for key in a.keys:
            for variant in a.variants:
                plain, attested = a.walls_s[key], a.walls_s[f"{key}{variant}"]
                cpu = f"{a.ratio(key, 'cpu', variant):.3f}" if a.cpus_s else "—"
                shown = " ".join(f"--{name}" for name in variant.strip("+").split("+"))
                lines.append(
                    f"| {key} | {shown} | {_spread(plain)} | {_spread(attested)} "
                    f"| {a.ratio(key, 'wall', variant):.3f} | {cpu} | ≤ {a.goal:.2f} |"
                )
        lines.append("")
    m = result.manifest_push
    if m is not None:
        lines += [
            "## manifest push from-spec (2 platforms)", "",
            ("| ours ms, median (fastest) | ours CPU ms, median | manifest-tool ms (anchors) "
             "| goal ms | ours / manifest-tool | requests |"), "|---|---|---|---|---|---|",
            (f"| {m.median_ms:.0f} ({m.min_ms:.0f}) of {len(m.rounds_s)} rounds "
             f"| {_num(m.cpu_median_ms, 0)} | {m.manifest_tool_ms:.0f} | ≤ {m.goal_ms:.0f} "
             f"| {m.median_ms / m.manifest_tool_ms:.1f} | {m.requests:.0f} |"),
            "",
            ("Every round pushes the same index: from the second on, the tag already holds it "
             "and our push asks with a HEAD and skips the PUT (crane's way)."),
            "",
        ]
    return lines


CONTAINER_GOAL = 1.1  # issue 13: in the unprivileged container at most 1.1 × on the VM


def _container_ratio(w: WorkloadResult, start_s: float | None) -> tuple[str, str]:
    """container/VM, and the same with the container's start cost taken off."""
    vm, box = w.side("ours"), w.side("container")
    if vm is None or box is None or not vm.usable or not box.usable:
        return "—", "—"
    net = None if start_s is None else (box.median_s - start_s) / vm.median_s
    return f"{box.median_s / vm.median_s:.2f}", _num(net, 2)


def _container(result: SuiteResult) -> list[str]:
    if not any(w.side("container") for w in result.workloads):
        return []
    start = result.container_start_s
    lines = [
        "## In an unprivileged container (issue 13)", "",
        ("Our same commands inside multiarch's own image (`./tasks image`, tag debug) under "
         "podman with the default capabilities and seccomp profile, a fresh container per "
         "build (`--isolation auto` picks container-root), the context bind-mounted, the same "
         "registry, alternating with the VM run above; podman's storage on the same tmpfs. "
         "A container's start and removal (`podman run` of the image's `/bin/true`, median "
         "of 5): "
         f"{_num(start and start * 1000, 0)} ms; the last column takes it off the "
         "container's time."), "",
        ("| workload | VM s | container s | container/VM | goal | container/VM "
         "without the container's start |"), "|---|---|---|---|---|---|",
    ]
    for w in result.workloads:
        box = w.side("container")
        if box is None:
            continue
        ratio, net = _container_ratio(w, start)
        cells = [w.title, _wall(w.side("ours")), _wall(box), ratio, f"≤ {CONTAINER_GOAL}", net]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return [*lines, ""]


def render_markdown(result: SuiteResult) -> str:
    lines = [
        "# Bench results: multiarch (ours) vs buildah, same machine, same run",
        "",
        f"- started: {result.started}",
        f"- command: `{result.command}`",
        f"- host: {result.host}",
        f"- storage: {result.storage}",
        f"- load average (1 min) before / after: {result.load_before:.2f} / {result.load_after:.2f}",
        f"- runs per workload: {result.runs}{' (quick)' if result.quick else ''}, alternating sides",
        f"- our start-up (`multiarch executor --help`, median of 5): "
        f"{_num(result.ours_startup_s and result.ours_startup_s * 1000, 0)} ms",
        "",
        "Wall seconds for build + push to the local registry: median (min–max). Peak RSS in MiB:",
        "whole process tree (sampled every 20 ms) / largest single process (exact). Pushed: MiB",
        "sent to the registry by the timed commands, and the registry requests they made",
        "(medians). The anchors (shared/anchors.md, another session on the same kind of machine)",
        "give kaniko/buildah: hold ours/buildah against it. kaniko's RSS there is its largest",
        "process: compare it with the second of our two RSS figures.",
        "",
        f"This machine ran buildah {_speed(result)} the anchor machine's time (median over "
        "workloads): absolute seconds do not carry over, ratios do.",
        "",
        "ours/kaniko (est.) is ours over kaniko's time estimated for this run: kaniko/buildah",
        "(anchors) × buildah here, or, where the anchors have no buildah figure, kaniko's anchor",
        "seconds × this machine's speed. The goal column is issue 16's bound on it.",
        "",
        "| workload | ours s | buildah s | ours/buildah time | kaniko/buildah (anchors) "
        "| ours/kaniko (est.) | goal ours/kaniko "
        "| ours RSS MiB | buildah RSS MiB | ours/buildah RSS | kaniko RSS MiB (anchors) "
        "| ours pushed MiB, requests | buildah pushed MiB, requests |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    factor = _speed_factor(result)
    for w in result.workloads:
        ours, buildah = w.side("ours"), w.side("buildah")
        cells = [w.title, _wall(ours), _wall(buildah), _ratio(ours, buildah, "time"),
                 _num(w.anchor.kaniko_ratio, 2), _num(_vs_kaniko(w, factor), 2), _goal(w),
                 _rss(ours), _rss(buildah), _ratio(ours, buildah, "rss"),
                 _num(w.anchor.kaniko_rss_mib, 0), _pushed(ours), _pushed(buildah)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    for w in result.workloads:
        lines += _timeline(w)
    lines += _container(result)
    lines += _fixed_costs(result)
    lines += ["## Commands (timed steps of the last run)", ""]
    for w in result.workloads:
        for side in w.sides:
            for command in side.commands:
                lines.append(f"- {w.key} {side.side}: `{command}`")
    return "\n".join(lines) + "\n"
