"""A parsed Dockerfile: directives, global ARGs and stages of typed instructions."""

from __future__ import annotations

from dataclasses import dataclass

from builder.dockerfile.convert import convert
from builder.dockerfile.instructions import ArgInstruction, FromInstruction, Instruction
from builder.dockerfile.parser import Directives, parse_nodes
from builder.errors import DockerfileError


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None  # lower case; stage names are case-insensitive
    from_: FromInstruction
    instructions: tuple[Instruction, ...]  # after FROM

    @property
    def display_name(self) -> str:
        return self.name if self.name is not None else f"stage-{self.index}"


@dataclass(frozen=True)
class Dockerfile:
    filename: str
    directives: Directives
    global_args: tuple[ArgInstruction, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]

    @property
    def escape(self) -> str:
        return self.directives.escape

    def stage_named(self, name: str) -> Stage | None:
        wanted = name.lower()
        return next((s for s in self.stages if s.name == wanted), None)


def parse_dockerfile(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text; raises DockerfileError naming filename:line on any problem."""
    parsed = parse_nodes(text, filename)
    escape = parsed.directives.escape
    global_args: list[ArgInstruction] = []
    stages: list[Stage] = []
    current: FromInstruction | None = None
    body: list[Instruction] = []
    names: dict[str, int] = {}

    def close_stage() -> None:
        if current is not None:
            stages.append(Stage(len(stages), current.stage_name, current, tuple(body)))

    for node in parsed.nodes:
        instruction = convert(node, filename, escape)
        if isinstance(instruction, FromInstruction):
            close_stage()
            current, body = instruction, []
            name = instruction.stage_name
            if name is not None:
                if name in names:
                    raise DockerfileError(
                        f"duplicate stage name {name!r}",
                        file=filename,
                        line=instruction.line,
                        hint=f"stage {name!r} is already defined by the FROM of stage {names[name]}",
                    )
                names[name] = len(stages)
        elif current is None:
            if not isinstance(instruction, ArgInstruction):
                raise DockerfileError(
                    f"{instruction.keyword}: no build stage in current context",
                    file=filename,
                    line=instruction.line,
                    hint="only ARG may come before the first FROM",
                )
            global_args.append(instruction)
        else:
            body.append(instruction)
    close_stage()
    if not stages:
        raise DockerfileError(
            "file with no instructions" if not parsed.nodes else "no FROM instruction",
            file=filename,
            line=None,
            hint="a Dockerfile starts with FROM IMAGE (after optional ARGs)",
        )
    return Dockerfile(filename, parsed.directives, tuple(global_args), tuple(stages))
