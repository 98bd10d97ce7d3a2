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


class WorkloadResult(_Frozen):
    key: str
    title: str
    anchor: Anchor = Anchor()
    sides: tuple[SideResult, ...]

    def side(self, name: str) -> SideResult | None:
        return next((s for s in self.sides if s.side == name), None)


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
    workloads: tuple[WorkloadResult, ...]


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


def _speed(result: SuiteResult) -> str:
    factors = []
    for w in result.workloads:
        buildah = w.side("buildah")
        if buildah is not None and buildah.usable and w.anchor.buildah_s:
            factors.append(buildah.median_s / w.anchor.buildah_s)
    return f"at {statistics.median(factors):.2f}×" if factors else "at an unknown multiple of"


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
        "| workload | ours s | buildah s | ours/buildah time | kaniko/buildah (anchors) "
        "| ours RSS MiB | buildah RSS MiB | ours/buildah RSS | kaniko RSS MiB (anchors) "
        "| ours pushed MiB, requests | buildah pushed MiB, requests |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in result.workloads:
        ours, buildah = w.side("ours"), w.side("buildah")
        cells = [w.title, _wall(ours), _wall(buildah), _ratio(ours, buildah, "time"),
                 _num(w.anchor.kaniko_ratio, 2), _rss(ours), _rss(buildah),
                 _ratio(ours, buildah, "rss"), _num(w.anchor.kaniko_rss_mib, 0), _pushed(ours),
                 _pushed(buildah)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Commands (timed steps of the last run)", ""]
    for w in result.workloads:
        for side in w.sides:
            for command in side.commands:
                lines.append(f"- {w.key} {side.side}: `{command}`")
    return "\n".join(lines) + "\n"
