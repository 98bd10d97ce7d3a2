"""The cache as one stage sees it.

When the stage starts, a dry pass expands its instructions on a copy of the ARG/ENV scope and
computes every step's key (the same function the real pass uses, so they agree), then looks
all of them up at once (kaniko's cache probe): a fully cached stage costs one round of
concurrent lookups and runs nothing. Each filesystem step then calls `snapshot(action)`:
a hit returns the cached layer without running the action, a miss runs it and records it.
"""

from __future__ import annotations

import copy
import logging
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from builder.cache import keys
from builder.cache.build import BuildCache, Hit
from builder.dockerfile import (
    AddInstruction,
    CopyInstruction,
    Instruction,
    RunInstruction,
    WorkdirInstruction,
)
from builder.dockerfile.dockerignore import DockerIgnore
from builder.errors import MultiarchError
from builder.events import CacheOutcome
from builder.executor.snapshot import StepAction
from builder.fs.rootfs import Layer, Rootfs

if TYPE_CHECKING:
    from builder.executor.stage import StageExecutor

log = logging.getLogger(__name__)
_FS = (RunInstruction, CopyInstruction, AddInstruction, WorkdirInstruction)


class StageCache:
    def __init__(self, cache: BuildCache, executor: "StageExecutor", instructions: list[Instruction]) -> None:
        self.cache = cache
        self.ex = executor
        self.last_cached = False
        """Whether the step that just finished came from the cache."""
        self.last_looked_up = False
        """Whether the cache was asked for the step that just finished (hit or miss)."""
        self._current: tuple[str, bool] = ("", False)
        self._order: list[tuple[str, bool]] = []  # (key, cacheable) of each fs step, in order
        self._lookups: dict[str, Future[Hit | None]] = {}
        plan = executor.plan
        self._is_source = any(executor.planned.index in s.depends_on for s in plan.stages)
        self._is_target = executor.planned.index == plan.target.index
        if cache.enabled:
            self._probe(instructions)

    @property
    def last_outcome(self) -> CacheOutcome | None:
        if self.last_cached:
            return "hit"
        return "miss" if self.last_looked_up else None

    # --- keys ----------------------------------------------------------------------------

    def metadata_key(self, parent: str, ins: Instruction) -> str:
        return keys.metadata_key(parent, ins, self.ex.platform_text)

    def fs_key(self, parent: str, ins: Instruction, run_env: tuple[str, ...]) -> str:
        key, cacheable = self._fs_key(parent, ins, run_env)
        self._current = (key, cacheable)
        return key

    def _fs_key(self, parent: str, ins: Instruction, run_env: tuple[str, ...]) -> tuple[str, bool]:
        extra = keys.step_extra(ins, self.cache.hasher, self._from_key) if self.cache.enabled else ""
        if extra is not None and isinstance(ins, RunInstruction):
            extra += self.ex.session.run_settings()
        key = keys.fs_step_key(parent, ins, run_env, self.ex.platform_text, extra or "", self.cache.layer_settings)
        return key, self.cache.enabled and extra is not None and self._kind_cached(ins)

    def _kind_cached(self, ins: Instruction) -> bool:
        options = self.cache.options
        if isinstance(ins, RunInstruction):
            return options.run_layers
        if isinstance(ins, (CopyInstruction, AddInstruction)):
            return options.copy_layers
        return True

    def _from_key(self, name: str) -> str | None:
        ex = self.ex
        stage = ex.plan.resolve_from(name)
        if stage is not None:
            result = ex.session.stages.get(stage.index)
            return result.key if result is not None else None
        directory = ex.plan.local_context(name)
        if directory is not None:
            return keys.SourceHasher(Path(directory), DockerIgnore()).fingerprint((".",))
        return ex.session.base_image(ex.plan.from_image(name), ex.platform).digest

    def _probe(self, instructions: list[Instruction]) -> None:
        scope = copy.deepcopy(self.ex.scope)
        key = self.ex.key
        for ins in instructions:
            try:
                expanded = scope.step(ins)
                if isinstance(expanded, _FS):
                    key, cacheable = self._fs_key(key, expanded, scope.run_env())
                    self._order.append((key, cacheable))
                    if cacheable and key not in self._lookups:
                        self._lookups[key] = self.cache.lookups.submit(self.cache.lookup, key)
                else:
                    key = self.metadata_key(key, expanded)
            except MultiarchError:
                return  # the real pass reports it at its step

    # --- steps ---------------------------------------------------------------------------

    def snapshot(self, action: StepAction, *, sandboxed: bool,
                 onto_empty: bool = False) -> Layer | None:
        """The step's layer: from the cache on a hit, else by running `action` on the
        stage's filesystem (or, `onto_empty`, on an empty one: COPY --link)."""
        ex = self.ex
        key, cacheable = self._current
        self.last_cached = False
        self.last_looked_up = cacheable
        if cacheable:
            hit = self._hit(key)
            if hit is not None:
                try:
                    layer = self.cache.adopt(hit, local=self._needs_local(key))
                except MultiarchError as err:
                    log.warning("warning: cache entry for %s is unusable (%s); building the step", key, err.message)
                else:
                    self.last_cached = True
                    return layer
        ex.rootfs = self.cache.materialize(ex.rootfs)
        base = Rootfs() if onto_empty else ex.rootfs
        layer = ex.session.snapshotter.step(base, action, sandboxed=sandboxed)
        if cacheable:
            self.cache.record(key, layer)
        return layer

    def _hit(self, key: str) -> Hit | None:
        future = self._lookups.get(key)
        return future.result() if future is not None else self.cache.lookup(key)

    def _needs_local(self, key: str) -> bool:
        """Whether this hit's bytes will be needed: a later step of the stage runs on top of
        it, another stage reads this one, or an output needs the bytes. Fetching them now
        lets a corrupt entry fall back to building this step."""
        if self._is_source or (self._is_target and self.cache.outputs_need_bytes):
            return True
        keys_after = [k for k, _ in self._order]
        later = self._order[keys_after.index(key) + 1:] if key in keys_after else []
        return not self._order or key not in keys_after or any(
            not cacheable or self._hit(k) is None for k, cacheable in later
        )
