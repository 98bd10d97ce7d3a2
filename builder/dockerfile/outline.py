"""A human-readable outline of a BuildPlan: what `executor --check` prints."""

from __future__ import annotations

from builder.dockerfile.plan import BaseKind, BuildPlan, PlannedStage
from builder.oci.platform import format_platform


def outline(plan: BuildPlan) -> list[str]:
    dockerfile = plan.dockerfile
    total = len(dockerfile.stages)
    lines = [
        f"{dockerfile.filename}: {total} stage{'s' if total != 1 else ''}, "
        f"{len(plan.stages)} needed for target {plan.target.display_name!r}",
        f"platform: {format_platform(plan.target_platform)} "
        f"(build platform {format_platform(plan.build_platform)})",
    ]
    for stage in plan.stages:
        lines.extend(_stage_lines(plan, stage))
    if len(plan.levels) > 1 or any(len(level) > 1 for level in plan.levels):
        groups = [
            "[" + ", ".join(plan.stage(i).display_name for i in level) + "]"
            for level in plan.levels
        ]
        lines.append("order (stages in one group can build in parallel): " + " -> ".join(groups))
    return lines


def _stage_lines(plan: BuildPlan, stage: PlannedStage) -> list[str]:
    base = stage.base
    if base.kind is BaseKind.STAGE:
        source = f"stage {plan.stage(base.stage).display_name}" if base.stage is not None else ""
    else:
        source = base.name
    deps = [plan.stage(d).display_name for d in stage.depends_on]
    after = f" after {', '.join(deps)}" if deps else ""
    lines = [
        f"stage {stage.index} {stage.display_name!r}: FROM {source} "
        f"[{format_platform(stage.platform)}]{after}"
    ]
    count = len(stage.steps)
    for number, step in enumerate(stage.steps, start=1):
        text = " ".join(step.instruction.original.split())
        if len(text) > 100:
            text = text[:97] + "..."
        lines.append(
            f"  [{stage.display_name} {number}/{count}] {text}  "
            f"({plan.dockerfile.filename}:{step.instruction.line})"
        )
    return lines

