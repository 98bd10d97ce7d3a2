"""Execute one planned stage: FROM, ONBUILD triggers, then every instruction in order.

Metadata instructions change the config (builder.build.imageconfig); RUN, COPY, ADD and
WORKDIR change the filesystem through a snapshot step (builder.build.snapshot) and add a
layer unless they changed nothing. Each filesystem step is a progress vertex numbered like
BuildKit's `[stage i/n]` and gets a StepReport with its cache key.
"""

from __future__ import annotations

import time
from collections import deque

from builder.build import cachekey
from builder.build.imageconfig import Health, ImageState
from builder.build.image import Rootfs
from builder.build.report import StepReport
from builder.build.session import BuildSession, StageResult
from builder.dockerfile import (
    AddInstruction,
    ArgInstruction,
    BaseKind,
    BuildPlan,
    CmdInstruction,
    CopyInstruction,
    EntrypointInstruction,
    EnvInstruction,
    ExposeInstruction,
    HealthcheckInstruction,
    Instruction,
    LabelInstruction,
    MaintainerInstruction,
    OnbuildInstruction,
    PlannedStage,
    RunInstruction,
    ShellInstruction,
    StageScope,
    StopsignalInstruction,
    UserInstruction,
    VolumeInstruction,
    WorkdirInstruction,
    parse_trigger,
)
from builder.errors import BuildError, DockerfileError, MultiarchError
from builder.oci.platform import format_platform

FS_INSTRUCTIONS = (RunInstruction, CopyInstruction, AddInstruction, WorkdirInstruction)
_TAIL_LINES = 8


class StageExecutor:
    def __init__(self, session: BuildSession, plan: BuildPlan, planned: PlannedStage) -> None:
        self.session = session
        self.plan = plan
        self.planned = planned
        self.platform = planned.platform
        self.platform_text = format_platform(planned.platform)
        many = len(plan.dockerfile.stages) > 1
        self.label = planned.display_name if many else ""
        self.vertex_index = 0
        self.total = 0
        self.onbuild: list[str] = []

    # --- the stage ---------------------------------------------------------------------

    def run(self) -> StageResult:
        state, rootfs, key, triggers, from_name = self._start()
        self.state, self.rootfs, self.key = state, rootfs, key
        self.scope: StageScope = self.plan.scope(state.env)
        instructions = [self._trigger(t) for t in triggers] + list(self.planned.instructions)
        self.total = sum(isinstance(i, FS_INSTRUCTIONS) for i in instructions)
        if from_name is not None:
            self.total += 1
            self._from_vertex(from_name)
        for instruction in instructions:
            self._dispatch(instruction)
        return StageResult(self.state, self.rootfs, self.key, tuple(self.onbuild))

    def _start(self) -> tuple[ImageState, Rootfs, str, list[str], str | None]:
        base = self.planned.base
        session = self.session
        if base.kind is BaseKind.SCRATCH:
            state = ImageState.scratch(self.platform, session.epoch)
            return state, Rootfs(), cachekey.base_key(None, self.platform_text), [], None
        if base.kind is BaseKind.STAGE:
            assert base.stage is not None
            parent = session.stages[base.stage]
            return parent.state.child(), parent.rootfs, parent.key, list(parent.onbuild), None
        image = session.base_image(base.name, self.platform)
        state = ImageState.from_base(image.config, session.epoch)
        triggers = list((image.config.config.on_build if image.config.config else None) or [])
        key = cachekey.base_key(image.digest, self.platform_text)
        return state, image.rootfs, key, triggers, base.name

    def _trigger(self, expression: str) -> Instruction:
        stage = self.planned.stage
        return parse_trigger(
            expression, self.plan.dockerfile.filename, stage.from_.line, self.plan.dockerfile.escape
        )

    def _from_vertex(self, name: str) -> None:
        self.vertex_index += 1
        started = time.monotonic()
        vertex = self.session.progress.start(self._vertex_name(f"FROM {name}"))
        self.session.progress.done(vertex)
        self._report(f"FROM {name}", started, layer=None)

    def _vertex_name(self, text: str) -> str:
        width = len(str(self.total))
        prefix = f"{self.label} " if self.label else ""
        return f"[{prefix}{self.vertex_index:>{width}}/{self.total}] {text}"

    def _report(self, text: str, started: float, layer: str | None) -> None:
        self.session.steps.append(
            StepReport(
                stage=self.planned.display_name,
                index=self.vertex_index,
                instruction=text,
                cached=False,
                duration_s=round(time.monotonic() - started, 6),
                layer=layer,
                cache_key=self.key,
            )
        )

    # --- dispatch ----------------------------------------------------------------------

    def _dispatch(self, instruction: Instruction) -> None:
        args_before = self.scope.args_in_scope()
        expanded = self.scope.step(instruction)
        try:
            if isinstance(expanded, FS_INSTRUCTIONS):
                self._fs_step(expanded, [(a.key, a.value) for a in args_before])
            else:
                self._metadata(expanded)
        except DockerfileError:
            raise
        except MultiarchError as err:
            raise BuildError(
                f"{instruction.file}:{instruction.line}: [{self.planned.display_name}] "
                f"{instruction.keyword}: {err.message}",
                err.hint,
            ) from err

    def _metadata(self, ins: Instruction) -> None:
        s = self.state
        if isinstance(ins, EnvInstruction):
            s.set_env([(p.key, p.value) for p in ins.pairs])
        elif isinstance(ins, ArgInstruction):
            s.add_arg([(a.name, self.scope.declared.get(a.name)) for a in ins.args])
        elif isinstance(ins, LabelInstruction):
            s.set_labels([(p.key, p.value) for p in ins.pairs])
        elif isinstance(ins, MaintainerInstruction):
            s.set_maintainer(ins.name)
        elif isinstance(ins, CmdInstruction):
            s.set_cmd(list(ins.command.args), shell_form=not ins.command.exec_form)
        elif isinstance(ins, EntrypointInstruction):
            s.set_entrypoint(list(ins.command.args), shell_form=not ins.command.exec_form)
        elif isinstance(ins, HealthcheckInstruction):
            s.set_healthcheck(
                Health(ins.config_test, ins.interval, ins.timeout, ins.start_period,
                       ins.start_interval, ins.retries)
            )
        elif isinstance(ins, ExposeInstruction):
            s.expose(list(ins.ports))
        elif isinstance(ins, UserInstruction):
            s.set_user(ins.user)
        elif isinstance(ins, VolumeInstruction):
            s.add_volumes(list(ins.paths))
        elif isinstance(ins, StopsignalInstruction):
            s.set_stop_signal(ins.signal)
        elif isinstance(ins, ShellInstruction):
            s.set_shell(list(ins.shell))
        elif isinstance(ins, OnbuildInstruction):
            s.add_onbuild(ins.expression)
            self.onbuild.append(ins.expression)
        else:
            raise BuildError(f"unsupported instruction {ins.keyword}")
        self.key = cachekey.step_key(self.key, ins.original, (), self.platform_text)

    # --- filesystem steps --------------------------------------------------------------

    def _fs_step(self, ins: Instruction, args: list[tuple[str, str]]) -> None:
        from builder.build import steps

        self.vertex_index += 1
        text = " ".join(ins.original.split()) if "\n" not in ins.original else ins.original.split("\n")[0]
        vertex = self.session.progress.start(self._vertex_name(text))
        started = time.monotonic()
        self.key = cachekey.step_key(self.key, ins.original, self.scope.run_env(), self.platform_text)
        tail: deque[str] = deque(maxlen=_TAIL_LINES)

        def output(line: str) -> None:
            tail.append(line)
            self.session.progress.log(vertex, line)

        try:
            if isinstance(ins, RunInstruction):
                created_by, layer = steps.run(self, ins, args, output)
            elif isinstance(ins, WorkdirInstruction):
                created_by, layer = steps.workdir(self, ins)
            else:
                created_by, layer = steps.copy(self, ins)  # type: ignore[arg-type]
        except MultiarchError as err:
            self.session.progress.error(vertex, err.message)
            if tail and not err.hint:
                err.hint = "last output:\n" + "\n".join(tail)
            raise
        if created_by is not None:
            self.state.commit(created_by, layer=True, buildkit_suffix=not isinstance(ins, WorkdirInstruction))
            if layer is None:
                self.state.mark_last_empty()
        if layer is not None:
            self.rootfs = self.rootfs.plus(layer)
            self.state.add_layer(layer.diff_id)
        self.session.progress.done(vertex)
        self._report(text, started, layer.descriptor.digest if layer else None)
