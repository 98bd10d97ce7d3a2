"""Typed Dockerfile instructions and their word expansion.

Each instruction keeps its raw words; `ins.expand(env)` returns a copy with the words
expanded exactly as BuildKit does for that instruction (ADD, COPY, ENV, EXPOSE, LABEL,
STOPSIGNAL, USER, VOLUME, WORKDIR, ARG and the flags of these; RUN only its `--mount`
options). RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK text is never expanded here: the shell does it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Self, TypedDict

from builder.dockerfile.flags import FlagError
from builder.dockerfile.mounts import Mount, parse_mount
from builder.dockerfile.parser import Heredoc, parse_heredoc_word
from builder.dockerfile.shell import ShellLex, ShellSyntaxError
from builder.errors import DockerfileError


@dataclass(frozen=True, kw_only=True)
class Instruction:
    keyword: ClassVar[str] = ""
    file: str
    line: int
    end_line: int
    original: str
    escape: str = "\\"

    def error(self, message: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(f"{self.keyword}: {message}", file=self.file, line=self.line, hint=hint)

    def expander(self, env: Mapping[str, str], *, heredoc: bool = False) -> Callable[[str], str]:
        """`heredoc`: for a heredoc's body, which keeps its quotes and always escapes with a
        backslash (BuildKit's ExpandRaw: NewLex('\\') with SkipProcessQuotes)."""
        lex = ShellLex(escape="\\", skip_process_quotes=True) if heredoc else ShellLex(
            escape=self.escape)

        def expand(word: str) -> str:
            try:
                return lex.word(word, env)
            except ShellSyntaxError as err:
                raise self.error(str(err)) from None

        return expand

    def expand(self, env: Mapping[str, str]) -> Self:
        """This instruction with its words expanded from `env` (a copy; self if nothing to do)."""
        return self


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True)
class ArgDef:
    name: str
    default: str | None = None


@dataclass(frozen=True)
class CommandLine:
    """Exec form (JSON array, `args` as given) or shell form (`args` holds the one text)."""

    args: tuple[str, ...]
    exec_form: bool

    @property
    def text(self) -> str:
        return " ".join(self.args)

    def argv(self, shell: tuple[str, ...]) -> tuple[str, ...]:
        return self.args if self.exec_form else shell + (self.text,)


@dataclass(frozen=True)
class InlineFile:
    """A heredoc used as a COPY/ADD source: a file named `name` holding `data`."""

    name: str
    data: str
    expand: bool


@dataclass(frozen=True, kw_only=True)
class FromInstruction(Instruction):
    keyword: ClassVar[str] = "FROM"
    image: str
    stage_name: str | None = None  # lower case
    platform: str | None = None

    def expand(self, env: Mapping[str, str]) -> Self:
        expand = self.expander(env)
        platform = expand(self.platform) if self.platform is not None else None
        return dataclasses.replace(self, image=expand(self.image), platform=platform)


@dataclass(frozen=True)
class RunArgv:
    """What to execute for a RUN: `argv`, plus a heredoc script to mount (shebang heredoc)
    at `/dev/pipes/<script.name>`, as BuildKit does."""

    argv: tuple[str, ...]
    script: Heredoc | None = None


@dataclass(frozen=True, kw_only=True)
class RunInstruction(Instruction):
    keyword: ClassVar[str] = "RUN"
    command: CommandLine
    mounts: tuple[Mount, ...] = ()
    mount_specs: tuple[str, ...] = ()
    network: str | None = None  # default | none | host
    security: str | None = None  # sandbox | insecure
    heredocs: tuple[Heredoc, ...] = ()

    def expand(self, env: Mapping[str, str]) -> Self:
        if not self.mount_specs:
            return self
        expand = self.expander(env)
        mounts = tuple(mount_from_spec(self, spec, expand) for spec in self.mount_specs)
        return dataclasses.replace(self, mounts=mounts)

    def run_argv(self, shell: tuple[str, ...]) -> RunArgv:
        if not self.heredocs or self.command.exec_form:
            return RunArgv(self.command.argv(shell))
        first = self.heredocs[0]
        if len(self.heredocs) == 1 and parse_heredoc_word(self.command.text.strip()):
            if first.body.startswith("#!"):
                return RunArgv(("/dev/pipes/" + first.name,), first)
            return RunArgv(shell + (first.body,))
        full = self.command.text
        for doc in self.heredocs:
            full += "\n" + doc.content + doc.name
        return RunArgv(shell + (full,))


@dataclass(frozen=True, kw_only=True)
class CmdInstruction(Instruction):
    keyword: ClassVar[str] = "CMD"
    command: CommandLine


@dataclass(frozen=True, kw_only=True)
class EntrypointInstruction(Instruction):
    keyword: ClassVar[str] = "ENTRYPOINT"
    command: CommandLine


@dataclass(frozen=True, kw_only=True)
class ShellInstruction(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class LabelInstruction(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: tuple[KeyValue, ...]

    def expand(self, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, pairs=_expand_pairs(self.pairs, self.expander(env)))


@dataclass(frozen=True, kw_only=True)
class EnvInstruction(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: tuple[KeyValue, ...]

    def expand(self, env: Mapping[str, str]) -> Self:
        # Every pair sees the environment from before this instruction: `ENV a=b c=$a`
        # gives c the old value of a, as Docker does.
        return dataclasses.replace(self, pairs=_expand_pairs(self.pairs, self.expander(env)))


@dataclass(frozen=True, kw_only=True)
class MaintainerInstruction(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    name: str


@dataclass(frozen=True, kw_only=True)
class ExposeInstruction(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]

    def expand(self, env: Mapping[str, str]) -> Self:
        expand = self.expander(env)
        ports = tuple(word for port in self.ports for word in expand(port).split())
        return dataclasses.replace(self, ports=ports)


class _CopyFields(TypedDict):
    sources: tuple[str, ...]
    dest: str
    inline_files: tuple[InlineFile, ...]
    chown: str | None
    chmod: str | None
    excludes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class _CopyBase(Instruction):
    sources: tuple[str, ...]
    dest: str
    inline_files: tuple[InlineFile, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    excludes: tuple[str, ...] = ()

    def _expanded_fields(self, env: Mapping[str, str]) -> _CopyFields:
        expand, expand_body = self.expander(env), self.expander(env, heredoc=True)
        return {
            "sources": tuple(expand(s) for s in self.sources),
            "dest": expand(self.dest),
            "inline_files": tuple(
                dataclasses.replace(f, data=expand_body(f.data)) if f.expand else f
                for f in self.inline_files
            ),
            "chown": _opt(expand, self.chown),
            "chmod": _opt(expand, self.chmod),
            "excludes": tuple(expand(e) for e in self.excludes),
        }


@dataclass(frozen=True, kw_only=True)
class CopyInstruction(_CopyBase):
    keyword: ClassVar[str] = "COPY"
    from_: str | None = None
    parents: bool = False

    def expand(self, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(
            self, from_=_opt(self.expander(env), self.from_), **self._expanded_fields(env)
        )


def is_url(source: str) -> bool:
    """An ADD source fetched over HTTP rather than read from the context or a stage."""
    return source.startswith(("http://", "https://"))


@dataclass(frozen=True, kw_only=True)
class AddInstruction(_CopyBase):
    keyword: ClassVar[str] = "ADD"
    checksum: str | None = None
    keep_git_dir: bool = False

    def expand(self, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(
            self, checksum=_opt(self.expander(env), self.checksum), **self._expanded_fields(env)
        )


@dataclass(frozen=True, kw_only=True)
class VolumeInstruction(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    paths: tuple[str, ...]

    def expand(self, env: Mapping[str, str]) -> Self:
        expand = self.expander(env)
        paths = tuple(expand(p) for p in self.paths)
        if any(not p.strip() for p in paths):
            raise self.error("VOLUME specified can not be an empty string")
        return dataclasses.replace(self, paths=paths)


@dataclass(frozen=True, kw_only=True)
class UserInstruction(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str

    def expand(self, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, user=self.expander(env)(self.user))


@dataclass(frozen=True, kw_only=True)
class WorkdirInstruction(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str

    def expand(self, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, path=self.expander(env)(self.path))


@dataclass(frozen=True, kw_only=True)
class ArgInstruction(Instruction):
    keyword: ClassVar[str] = "ARG"
    args: tuple[ArgDef, ...]

    def expand(self, env: Mapping[str, str]) -> Self:
        expand = self.expander(env)
        args = tuple(ArgDef(expand(a.name), _opt(expand, a.default)) for a in self.args)
        return dataclasses.replace(self, args=args)


@dataclass(frozen=True, kw_only=True)
class OnbuildInstruction(Instruction):
    keyword: ClassVar[str] = "ONBUILD"
    expression: str  # the trigger text as stored in the image config, e.g. "RUN make"
    trigger: Instruction


@dataclass(frozen=True, kw_only=True)
class StopsignalInstruction(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str

    def expand(self, env: Mapping[str, str]) -> Self:
        return dataclasses.replace(self, signal=self.expander(env)(self.signal))


@dataclass(frozen=True, kw_only=True)
class HealthcheckInstruction(Instruction):
    """`test` is None for HEALTHCHECK NONE (config Test ["NONE"]); durations in nanoseconds,
    0 meaning "inherit the default" as in the image config."""

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...] | None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    @property
    def config_test(self) -> list[str]:
        return ["NONE"] if self.test is None else list(self.test)


def _opt(expand: Callable[[str], str], value: str | None) -> str | None:
    return expand(value) if value is not None else None


def _expand_pairs(
    pairs: tuple[KeyValue, ...], expand: Callable[[str], str]
) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(expand(p.key), expand(p.value)) for p in pairs)


def mount_from_spec(ins: Instruction, spec: str, expand: Callable[[str], str] | None) -> Mount:
    try:
        return parse_mount(spec, expand)
    except FlagError as err:
        raise ins.error(f"--mount: {err}", err.hint) from None


ALL_INSTRUCTIONS: tuple[type[Instruction], ...] = (
    FromInstruction, RunInstruction, CmdInstruction, LabelInstruction, MaintainerInstruction,
    ExposeInstruction, EnvInstruction, AddInstruction, CopyInstruction, EntrypointInstruction,
    VolumeInstruction, UserInstruction, WorkdirInstruction, ArgInstruction, OnbuildInstruction,
    StopsignalInstruction, HealthcheckInstruction, ShellInstruction,
)
