"""Which stages a build needs, in what order, on which platform, from which base.

`plan_build()` resolves global ARGs (with --build-arg overrides and the automatic platform
ARGs), expands every FROM, follows FROM/COPY --from/RUN --mount from= edges from the target
stage, and orders the needed stages so each comes after the stages it depends on. `levels`
groups stages that can be built in parallel.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from builder.dockerfile.dockerfile import Dockerfile, Stage
from builder.dockerfile.instructions import (
    CopyInstruction,
    Instruction,
    KeyValue,
    RunInstruction,
)
from builder.dockerfile.mounts import MountType
from builder.dockerfile.scope import (
    BUILDER_ARGS,
    PROXY_ARGS,
    ArgContext,
    StageScope,
    platform_args,
)
from builder.dockerfile.shell import ShellLex, ShellSyntaxError
from builder.errors import DockerfileError, PlatformError
from builder.oci.models import Platform
from builder.oci.platform import host_platform, parse_platform


class BaseKind(Enum):
    SCRATCH = "scratch"
    STAGE = "stage"
    IMAGE = "image"


@dataclass(frozen=True)
class BaseImage:
    kind: BaseKind
    name: str  # the expanded FROM word: image reference, stage name, or "scratch"
    stage: int | None = None  # index of the stage, for BaseKind.STAGE


@dataclass(frozen=True)
class PlannedStep:
    """One instruction of a planned stage. `expanded` and `args` are a preview computed with
    an empty base-image Env; the builder recomputes them with a StageScope at run time."""

    instruction: Instruction
    expanded: Instruction
    args: tuple[KeyValue, ...]  # ARG values in scope before this step


@dataclass(frozen=True)
class PlannedStage:
    stage: Stage
    base: BaseImage
    platform: Platform
    steps: tuple[PlannedStep, ...]
    depends_on: tuple[int, ...]  # stage indices this stage needs first

    @property
    def index(self) -> int:
        return self.stage.index

    @property
    def name(self) -> str | None:
        return self.stage.name

    @property
    def display_name(self) -> str:
        return self.stage.display_name

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return self.stage.instructions


@dataclass(frozen=True)
class BuildPlan:
    dockerfile: Dockerfile
    stages: tuple[PlannedStage, ...]  # needed stages; each after its dependencies
    levels: tuple[tuple[int, ...], ...]  # stage indices buildable in parallel, level by level
    args: ArgContext
    target_platform: Platform
    build_platform: Platform
    warnings: tuple[str, ...]
    contexts: Mapping[str, str] = field(default_factory=dict)
    """Named build contexts (buildx's --build-context NAME=VALUE): NAME, in FROM or --from,
    is VALUE instead of a stage or image: `docker-image://REF` or a local directory."""

    @property
    def target(self) -> PlannedStage:
        return self.stages[-1]

    def stage(self, index: int) -> PlannedStage:
        """The planned stage with this Dockerfile index (KeyError if the build skips it)."""
        for stage in self.stages:
            if stage.index == index:
                return stage
        raise KeyError(index)

    def scope(self, base_env: tuple[str, ...] | list[str] = ()) -> StageScope:
        """A fresh ARG/ENV state for executing one stage over a base with `base_env`."""
        return StageScope.start(self.args, base_env)

    def resolve_from(self, value: str) -> PlannedStage | None:
        """The stage an (expanded) `--from` value names, or None when it is an image or a
        named context."""
        index = None if value in self.contexts else _stage_ref(self.dockerfile, value)
        return self.stage(index) if index is not None else None

    def from_image(self, value: str) -> str:
        """The image a `--from` value that is no stage reads: a docker-image:// context's
        reference, else the value itself."""
        return _context_image(self.contexts.get(value)) or value

    def local_context(self, value: str) -> str | None:
        """The directory a `--from` value names (a local named context), else None."""
        named = self.contexts.get(value)
        return named if named is not None and _context_image(named) is None else None


def plan_build(
    dockerfile: Dockerfile,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    target_platform: Platform | None = None,
    build_platform: Platform | None = None,
    contexts: Mapping[str, str] | None = None,
) -> BuildPlan:
    build_args = dict(build_args or {})
    contexts = dict(contexts or {})
    build_platform = build_platform or host_platform()
    target_platform = target_platform or build_platform
    context = ArgContext(build_args, _global_args(dockerfile, build_args, target_platform,
                                                  build_platform))
    warnings: list[str] = []
    target_stage = _target_stage(dockerfile, target)

    planned: dict[int, PlannedStage] = {}
    used: set[str] = {a.name for ins in dockerfile.global_args for a in ins.args}
    visiting: list[int] = []
    order: list[int] = []

    def visit(index: int) -> None:
        if index in order:
            return
        if index in visiting:
            names = [dockerfile.stages[i].display_name for i in visiting[visiting.index(index):]]
            raise DockerfileError(
                f"circular dependency detected on stage: {dockerfile.stages[index].display_name}",
                file=dockerfile.filename,
                line=dockerfile.stages[index].from_.line,
                hint="cycle: " + " -> ".join(names + [dockerfile.stages[index].display_name]),
            )
        visiting.append(index)
        stage = _plan_stage(dockerfile, dockerfile.stages[index], context, warnings, used,
                            target_platform, contexts)
        for dep in stage.depends_on:
            visit(dep)
        visiting.pop()
        planned[index] = _with_platform(stage, planned)
        order.append(index)

    visit(target_stage.index)
    stages = tuple(planned[i] for i in order)
    unused = sorted(
        name for name in build_args
        if name not in used and name not in PROXY_ARGS and name not in BUILDER_ARGS
        and name not in platform_args(target_platform, build_platform)
        and not name.startswith("BUILDKIT_")
    )
    if unused:
        warnings.append(f"build-arg{'s' if len(unused) > 1 else ''} not consumed by any "
                        f"stage: {', '.join(unused)}")
    return BuildPlan(dockerfile, stages, _levels(stages), context, target_platform,
                     build_platform, tuple(warnings), contexts)


def _global_args(
    dockerfile: Dockerfile, build_args: Mapping[str, str], target: Platform, build: Platform
) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        k: build_args.get(k, v) for k, v in platform_args(target, build).items()
    }
    lex = ShellLex(escape=dockerfile.escape, skip_unset=True)
    for instruction in dockerfile.global_args:
        for arg in instruction.args:
            value = arg.default
            if value is not None:
                try:
                    value = lex.word(value, _as_env(values))
                except ShellSyntaxError as err:
                    raise instruction.error(str(err)) from None
            if arg.name in build_args:
                value = build_args[arg.name]
            values[arg.name] = value
    return values


def _as_env(values: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v or "" for k, v in values.items()}


def _target_stage(dockerfile: Dockerfile, target: str | None) -> Stage:
    if not target:
        return dockerfile.stages[-1]
    stage = dockerfile.stage_named(target)
    if stage is None:
        names = [s.name for s in dockerfile.stages if s.name]
        close = difflib.get_close_matches(target.lower(), names, n=1)
        raise DockerfileError(
            f"target stage {target!r} could not be found",
            file=dockerfile.filename,
            hint=f"did you mean {close[0]}?" if close else
            ("stages: " + ", ".join(names) if names else "no stage has a name (FROM x AS name)"),
        )
    return stage


def _stage_ref(dockerfile: Dockerfile, value: str) -> int | None:
    stage = dockerfile.stage_named(value)
    if stage is not None:
        return stage.index
    if value.isdigit():
        return int(value)
    return None


def _plan_stage(
    dockerfile: Dockerfile,
    stage: Stage,
    context: ArgContext,
    warnings: list[str],
    used: set[str],
    target_platform: Platform,
    contexts: Mapping[str, str],
) -> PlannedStage:
    from_ = stage.from_.expand(_as_env(context.global_args))
    if not from_.image:
        raise stage.from_.error(
            f"base name ({stage.from_.image}) should not be blank",
            "set the ARG it uses (--build-arg) or give it a default",
        )
    base = _base(dockerfile, stage, from_.image, contexts)
    deps: list[int] = [base.stage] if base.stage is not None else []
    platform = target_platform
    if from_.platform:
        try:
            platform = parse_platform(from_.platform)
        except PlatformError as err:
            raise stage.from_.error(f"--platform: {err}", err.hint) from None
    scope = StageScope.start(context)
    steps = []
    for instruction in stage.instructions:
        args = scope.args_in_scope()
        expanded = scope.step(instruction)
        steps.append(PlannedStep(instruction, expanded, args))
        for ref in from_refs(expanded):
            if ref in contexts:
                continue
            dep = _resolve_ref(dockerfile, stage, expanded, ref, warnings)
            if dep is not None and dep not in deps:
                deps.append(dep)
    used.update(scope.declared)
    explicit_platform = platform if from_.platform else None
    return PlannedStage(stage, base, explicit_platform or target_platform, tuple(steps),
                        tuple(deps))


def _with_platform(stage: PlannedStage, planned: Mapping[int, PlannedStage]) -> PlannedStage:
    """A stage built FROM another stage without --platform runs on that stage's platform."""
    if stage.base.stage is None or stage.stage.from_.platform:
        return stage
    parent = planned[stage.base.stage]
    if parent.platform == stage.platform:
        return stage
    return PlannedStage(stage.stage, stage.base, parent.platform, stage.steps, stage.depends_on)


def _context_image(value: str | None) -> str | None:
    prefix = "docker-image://"
    return value[len(prefix):] if value is not None and value.startswith(prefix) else None


def _base(
    dockerfile: Dockerfile, stage: Stage, image: str, contexts: Mapping[str, str]
) -> BaseImage:
    if image in contexts:  # a named context wins over a stage or image of that name
        reference = _context_image(contexts[image])
        if reference is None:
            raise stage.from_.error(
                f"FROM {image}: the build context {image!r} is a local directory, which "
                "cannot be a base image here",
                f"use COPY --from={image}, or --build-context {image}=docker-image://REF",
            )
        return BaseImage(BaseKind.IMAGE, reference)
    if image.lower() == "scratch":
        return BaseImage(BaseKind.SCRATCH, "scratch")
    earlier = dockerfile.stage_named(image)
    if earlier is not None and earlier.index < stage.index:
        return BaseImage(BaseKind.STAGE, earlier.name or image, earlier.index)
    return BaseImage(BaseKind.IMAGE, image)


def from_refs(instruction: Instruction) -> list[str]:
    """The stages or images an instruction reads: COPY --from, RUN --mount from=."""
    if isinstance(instruction, CopyInstruction) and instruction.from_:
        return [instruction.from_]
    if isinstance(instruction, RunInstruction):
        return [m.from_ for m in instruction.mounts
                if m.from_ and m.type in (MountType.BIND, MountType.CACHE)]
    return []


def _resolve_ref(
    dockerfile: Dockerfile, stage: Stage, instruction: Instruction, ref: str,
    warnings: list[str],
) -> int | None:
    index = _stage_ref(dockerfile, ref)
    if index is not None:
        if index >= len(dockerfile.stages):
            raise instruction.error(
                f"invalid stage index {index}",
                f"the Dockerfile has stages 0..{len(dockerfile.stages) - 1}",
            )
        if index == stage.index:
            raise instruction.error(
                f"circular dependency detected on stage: {stage.display_name}",
                "a stage cannot copy from itself",
            )
        return index
    if not any(c in ref for c in "/:@."):
        names = [s.name for s in dockerfile.stages if s.name]
        close = difflib.get_close_matches(ref.lower(), names, n=1)
        suggestion = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(
            f"{dockerfile.filename}:{instruction.line}: no stage named {ref!r}; "
            f"treating it as an image{suggestion}"
        )
    return None


def _levels(stages: tuple[PlannedStage, ...]) -> tuple[tuple[int, ...], ...]:
    level: dict[int, int] = {}
    for stage in stages:  # already ordered after their dependencies
        level[stage.index] = 1 + max((level[d] for d in stage.depends_on), default=-1)
    depth = max(level.values(), default=-1) + 1
    return tuple(
        tuple(sorted(i for i, lv in level.items() if lv == n)) for n in range(depth)
    )
