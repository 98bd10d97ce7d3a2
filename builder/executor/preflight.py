"""What a build rejects before it pulls or runs anything, checked on the plan: `--check`
and the build itself call `preflight(plan)`, so both fail alike, naming file:line.

- every base image (FROM) and every `COPY --from` / `RUN --mount from=` value that is not a
  stage must be an image reference (or a transport location such as oci:DIR): BuildKit
  answers `failed to parse stage name "X": invalid reference format`;
- the COPY/ADD rules that do not depend on the image: a valid --chmod, ADD --checksum only
  for one URL,
  no URL source for COPY, several sources only into a directory (when the destination is
  written without variables);
- RUN --security=insecure is refused.
"""

from __future__ import annotations

from typing import Protocol

from builder.dockerfile import (
    AddInstruction,
    BaseKind,
    BuildPlan,
    CopyInstruction,
    Instruction,
    RunInstruction,
)
from builder.dockerfile.chmod import ChmodError, parse_chmod
from builder.dockerfile.instructions import is_url
from builder.dockerfile.plan import from_refs
from builder.errors import BuildError, DockerfileError, MultiarchError
from builder.fs.copysources import dest_path
from builder.transports import parse_location


def preflight(plan: BuildPlan) -> None:
    for stage in plan.stages:
        if stage.base.kind is BaseKind.IMAGE:
            _image_name(stage.base.name, stage.stage.from_.error)
        for step in stage.steps:
            for ref in from_refs(step.expanded):
                if plan.resolve_from(ref) is None and plan.local_context(ref) is None:
                    _image_name(plan.from_image(ref), step.instruction.error)
            try:
                check_step(step.expanded, written=step.instruction)
            except BuildError as err:
                raise step.instruction.error(err.message, err.hint) from None


def check_step(ins: Instruction, written: Instruction | None = None) -> None:
    """The rules of one expanded instruction that need no image (also run on each step, for
    ONBUILD triggers the plan never saw). `written`: the instruction as written, when `ins`
    is the plan's preview expansion — a destination written with variables waits for the
    build, which knows the base image's ENV."""
    if isinstance(ins, RunInstruction) and ins.security == "insecure":
        raise BuildError("RUN --security=insecure is not supported", "remove the flag")
    if not isinstance(ins, (CopyInstruction, AddInstruction)):
        return
    if ins.chmod is not None:
        try:
            parse_chmod(ins.chmod)
        except ChmodError as err:
            raise BuildError(str(err)) from None
    urls = [s for s in ins.sources if is_url(s)]
    if isinstance(ins, AddInstruction) and ins.checksum and not (len(ins.sources) == 1 and urls):
        raise BuildError("checksum can't be specified for non-HTTP(S) sources")
    if isinstance(ins, CopyInstruction) and urls:
        raise BuildError("source can't be a URL for COPY", "use ADD for URLs")
    several = len(ins.sources) + len(ins.inline_files) > 1
    parents = isinstance(ins, CopyInstruction) and ins.parents
    written_dest = written.dest if isinstance(written, (CopyInstruction, AddInstruction)) else ""
    dest_known = "$" not in written_dest
    if several and not parents and dest_known and not dest_path(ins.dest, "/")[1]:
        raise BuildError(
            "When using COPY with more than one source file, the destination must be a "
            "directory and end with a /"
        )


class _ErrorFactory(Protocol):  # Instruction.error, FromInstruction.error
    def __call__(self, message: str, hint: str | None = None) -> DockerfileError: ...


def _image_name(name: str, error: _ErrorFactory) -> None:
    try:
        parse_location(name)
    except MultiarchError as err:
        raise error(f'failed to parse stage name "{name}": invalid reference format',
                    err.message) from None
