"""ARG and ENV state while a stage runs, as BuildKit keeps it.

The core builder creates one `StageScope` per stage with the base image's Env and feeds it
every instruction in order: `scope.step(ins)` returns the expanded instruction and applies
ENV/ARG to the state. ARG values live in the build state (visible to later expansion and to
RUN) but not in the image config; ENV goes to both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from builder.dockerfile.instructions import ArgInstruction, EnvInstruction, Instruction, KeyValue
from builder.oci.models import Platform
from builder.oci.platform import format_platform

PROXY_ARGS = frozenset(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)
# Args consumed by the builder itself: never reported as unused.
BUILDER_ARGS = frozenset({"SOURCE_DATE_EPOCH"})


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    """BuildKit's automatic platform ARGs (values of the normalised platforms)."""
    return {
        "BUILDPLATFORM": format_platform(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant or "",
        "TARGETPLATFORM": format_platform(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant or "",
    }


@dataclass(frozen=True)
class ArgContext:
    """What every stage scope starts from: --build-arg values and the resolved global
    (pre-FROM) ARGs, which include the automatic platform ARGs."""

    build_args: Mapping[str, str]
    global_args: Mapping[str, str | None]


@dataclass
class StageScope:
    context: ArgContext
    image_env: dict[str, str] = field(default_factory=dict)  # the config Env, in order
    state_env: dict[str, str] = field(default_factory=dict)  # image env + ARG values
    declared: dict[str, str | None] = field(default_factory=dict)  # ARGs of this stage
    used_build_args: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, context: ArgContext, base_env: Iterable[str] = ()) -> "StageScope":
        """`base_env` is the base image config's Env list ("KEY=value")."""
        env: dict[str, str] = {}
        for item in base_env:
            key, _, value = item.partition("=")
            env[key] = value
        return cls(context, dict(env), dict(env))

    @property
    def env(self) -> Mapping[str, str]:
        """The mapping words are expanded from at this point of the stage."""
        return self.state_env

    def step(self, instruction: Instruction) -> Instruction:
        """Expand `instruction` in the current state, then apply it (ENV/ARG)."""
        expanded = instruction.expand(self.state_env)
        if isinstance(expanded, EnvInstruction):
            for pair in expanded.pairs:
                self.image_env[pair.key] = pair.value
                self.state_env[pair.key] = pair.value
        elif isinstance(expanded, ArgInstruction):
            self._declare(expanded)
        return expanded

    def _declare(self, instruction: ArgInstruction) -> None:
        build_args = self.context.build_args
        for arg in instruction.args:
            value = arg.default
            if arg.name in build_args:
                value = build_args[arg.name]
                self.used_build_args.add(arg.name)
            elif value is None and arg.name in self.context.global_args:
                value = self.context.global_args[arg.name]
            self.declared[arg.name] = value
            if value is not None:
                self.state_env[arg.name] = value

    def args_in_scope(self) -> tuple[KeyValue, ...]:
        """Declared ARGs with a value (what BuildKit writes as `|N K=V` in RUN history)."""
        return tuple(
            KeyValue(name, self.state_env.get(name, value or ""))
            for name, value in self.declared.items()
            if value is not None
        )

    def run_env(self) -> tuple[str, ...]:
        """Environment of a RUN: the state env plus undeclared proxy --build-args (which,
        unlike declared ARGs, stay out of the history)."""
        env = dict(self.state_env)
        for name, value in self.context.build_args.items():
            if name in PROXY_ARGS and name not in env:
                env[name] = value
        return tuple(f"{k}={v}" for k, v in env.items())
