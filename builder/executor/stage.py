"""Execute one planned stage: FROM, ONBUILD triggers, then every instruction in order.

Metadata instructions change the config (builder.executor.imageconfig); RUN, COPY, ADD and
WORKDIR change the filesystem through a snapshot step (builder.executor.snapshot) and add a
layer unless they changed nothing. Each filesystem step is a progress vertex numbered like
BuildKit's `[stage i/n]` and gets a StepReport with its cache key.
"""

from __future__ import annotations

import time
from collections import deque

from builder.cache import keys
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
from builder.executor import steps
from builder.executor.imageconfig import Health, ImageState
from builder.executor.report import StepReport
from builder.executor.session import BuildSession, StageResult
from builder.executor.snapshot import squash
from builder.executor.stagecache import StageCache
from builder.fs.rootfs import Rootfs
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
        own = list(self.planned.instructions)
        self.total = sum(isinstance(i, FS_INSTRUCTIONS) for i in own)
        state, rootfs, key, triggers = self._start()
        self.state, self.rootfs, self.key = state, rootfs, key
        self.scope: StageScope = self.plan.scope(state.env)
        instructions = [self._trigger(t) for t in triggers] + own
        self.total += sum(isinstance(i, FS_INSTRUCTIONS) for i in instructions[: len(triggers)])
        self.cache = StageCache(self.session.cache, self, instructions)
        base = self.rootfs
        history_from = len(self.state.config.history or [])
        for instruction in instructions:
            self._dispatch(instruction)
        if self.session.single_snapshot:
            self._single_snapshot(base, history_from)
        return StageResult(self.state, self.rootfs, self.key, tuple(self.onbuild))

    def _single_snapshot(self, base: Rootfs, history_from: int) -> None:
        """The steps ran on the overlay stack one by one; their layers become one."""
        own = self.rootfs.layers[len(base.layers):]
        if not own:
            return
        vertex = self.session.progress.start(f"[{self.planned.display_name}] single snapshot")
        layer = squash(self.session.snapshotter, base, own)
        self.rootfs = base.plus(layer) if layer else base
        self.state.squash_layers(history_from, len(base.layers), layer.diff_id if layer else None)
        self.session.progress.done(vertex)

    def _start(self) -> tuple[ImageState, Rootfs, str, list[str]]:
        base = self.planned.base
        session = self.session
        if base.kind is BaseKind.SCRATCH:
            state = ImageState.scratch(self.platform, session.epoch)
            return state, Rootfs(), keys.base_key(None, self.platform_text), []
        if base.kind is BaseKind.STAGE:
            assert base.stage is not None
            parent = session.stages[base.stage]
            return parent.state.child(), parent.rootfs, parent.key, list(parent.onbuild)
        self.total += 1
        self.vertex_index += 1
        text = f"FROM {base.name}"
        started = time.monotonic()
        vertex = session.progress.start(self._vertex_name(text))
        try:
            image = session.base_image(base.name, self.platform)
        except MultiarchError as err:
            session.progress.error(vertex, err.message)
            raise
        session.progress.done(vertex)
        state = ImageState.from_base(image.config, session.epoch)
        triggers = list((image.config.config.on_build if image.config.config else None) or [])
        self.key = keys.base_key(image.digest, self.platform_text)
        self._report(text, started, layer=None)
        return state, image.rootfs, self.key, triggers

    def _trigger(self, expression: str) -> Instruction:
        """A trigger of the base runs as if written at this stage's FROM line (as BuildKit
        places it); an invalid one also names where it came from."""
        from_line = self.planned.stage.from_.line
        filename = self.plan.dockerfile.filename
        try:
            return parse_trigger(expression, filename, from_line, self.plan.dockerfile.escape)
        except DockerfileError as err:
            base = self.planned.base
            origin = f"{'stage' if base.kind is BaseKind.STAGE else 'image'} {base.name}"
            raise DockerfileError(f"{err.reason} (ONBUILD {expression!r} of {origin})",
                                  file=filename, line=from_line, hint=err.hint) from None

    def _vertex_name(self, text: str) -> str:
        width = len(str(self.total))
        prefix = f"{self.label} " if self.label else ""
        return f"[{prefix}{self.vertex_index:>{width}}/{self.total}] {text}"

    def _report(self, text: str, started: float, layer: str | None, cached: bool = False) -> None:
        self.session.steps.append(
            StepReport(
                stage=self.planned.display_name,
                index=self.vertex_index,
                instruction=text,
                cached=cached,
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
        self.key = self.cache.metadata_key(self.key, ins)

    # --- filesystem steps --------------------------------------------------------------

    def _fs_step(self, ins: Instruction, args: list[tuple[str, str]]) -> None:
        self.vertex_index += 1
        text = " ".join(ins.original.split()) if "\n" not in ins.original else ins.original.split("\n")[0]
        vertex = self.session.progress.start(self._vertex_name(text))
        started = time.monotonic()
        self.key = self.cache.fs_key(self.key, ins, self.scope.run_env())
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
                assert isinstance(ins, (CopyInstruction, AddInstruction))
                created_by, layer = steps.copy(self, ins)
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
        self.session.progress.done(vertex, cache=self.cache.last_outcome)
        self._report(text, started, layer.descriptor.digest if layer else None, cached=self.cache.last_cached)
