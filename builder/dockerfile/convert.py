"""Raw nodes to typed instructions: argument shapes, flags, exec/shell form, heredoc files."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from typing import TypedDict

from builder.dockerfile import instructions as ins
from builder.dockerfile.flags import FlagError, FlagKind, ParsedFlags, parse_flags
from builder.dockerfile.parser import (
    Heredoc,
    Node,
    extract_flags,
    parse_heredoc_word,
    split_whitespace,
    split_words,
)
from builder.errors import DockerfileError

S, B, L = FlagKind.STRING, FlagKind.BOOL, FlagKind.LIST
_FLAGS: dict[str, dict[str, FlagKind]] = {
    "from": {"platform": S},
    "run": {"mount": L, "network": S, "security": S},
    "copy": {"from": S, "chown": S, "chmod": S, "link": B, "parents": B, "exclude": L},
    "add": {"chown": S, "chmod": S, "link": B, "exclude": L, "checksum": S, "keep-git-dir": B},
    "healthcheck": {
        "interval": S, "timeout": S, "start-period": S, "start-interval": S, "retries": S,
    },
}
KEYWORDS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_NETWORKS = ("default", "none", "host")
_SECURITY = ("sandbox", "insecure")
_ONBUILD_PREFIX = re.compile(r"^\s*onbuild\s*", re.IGNORECASE)


class _Location(TypedDict):
    """The fields every instruction takes from its node."""

    file: str
    line: int
    end_line: int
    original: str
    escape: str


class _Request:
    """One node being converted; `fail` raises a DockerfileError at its line."""

    def __init__(self, node: Node, filename: str, escape: str) -> None:
        self.node = node
        self.keyword = node.keyword.upper()
        self.base: _Location = {
            "file": filename,
            "line": node.start_line,
            "end_line": node.end_line,
            "original": node.original,
            "escape": escape,
        }
        self.escape = escape

    def fail(self, message: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(
            f"{self.keyword}: {message}", file=self.base["file"], line=self.node.start_line,
            hint=hint,
        )

    def flags(self) -> ParsedFlags:
        try:
            return parse_flags(self.node.flags, _FLAGS.get(self.node.keyword, {}))
        except FlagError as err:
            raise self.fail(str(err), err.hint) from None


def convert(node: Node, filename: str, escape: str) -> ins.Instruction:
    converter = _CONVERTERS.get(node.keyword)
    if converter is None:
        close = difflib.get_close_matches(node.keyword.upper(), KEYWORDS, n=1, cutoff=0.6)
        word = node.original.strip().split(None, 1)[0]
        raise DockerfileError(
            f"unknown instruction {word!r}",
            file=filename,
            line=node.start_line,
            hint=f"did you mean {close[0]}?" if close else "instructions: " + ", ".join(KEYWORDS),
        )
    return converter(_Request(node, filename, escape))


def _maybe_json(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _command(req: _Request) -> ins.CommandLine:
    args = _maybe_json(req.node.rest)
    if args is not None:
        return ins.CommandLine(tuple(args), exec_form=True)
    return ins.CommandLine((req.node.rest,) if req.node.rest else (), exec_form=False)


def _list(req: _Request) -> list[str]:
    args = _maybe_json(req.node.rest)
    return args if args is not None else split_whitespace(req.node.rest)


def _exactly_one(req: _Request) -> str:
    if not req.node.rest:
        raise req.fail(f"{req.keyword} requires exactly one argument")
    return req.node.rest


def _pairs(req: _Request) -> tuple[ins.KeyValue, ...]:
    rest = req.node.rest
    words = split_words(rest, req.escape)
    if not words:
        raise req.fail(f"{req.keyword} requires at least one argument")
    if "=" not in words[0]:
        # Legacy `ENV key value...`: the value is everything after the key.
        parts = re.split(r"[\t\v\f\r ]+", rest, maxsplit=1)
        if len(parts) < 2 or not parts[1]:
            raise req.fail(
                f"{req.keyword} must have two arguments", f"write {req.keyword} {parts[0]}=VALUE"
            )
        return (ins.KeyValue(parts[0], parts[1]),)
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq:
            raise req.fail(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        if not key:
            raise req.fail(f"{req.keyword} names can not be blank")
        pairs.append(ins.KeyValue(key, value))
    return tuple(pairs)


def _from(req: _Request) -> ins.FromInstruction:
    flags = req.flags()
    args = split_whitespace(req.node.rest)
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise req.fail(
                f"invalid name for build stage: {args[2]!r}, name can't start with a number "
                "or contain symbols"
            )
    elif len(args) == 1:
        name = None
    else:
        raise req.fail("FROM requires either one or three arguments", "FROM IMAGE [AS NAME]")
    return ins.FromInstruction(
        **req.base, image=args[0], stage_name=name, platform=flags.string("platform")
    )


def _run(req: _Request) -> ins.RunInstruction:
    flags = req.flags()
    command = _command(req)
    if not command.args and not command.exec_form:
        raise req.fail("RUN requires at least one argument")
    network = flags.string("network")
    if network is not None and network not in _NETWORKS:
        raise req.fail(f"unsupported network mode {network!r}", "use default, none or host")
    security = flags.string("security")
    if security is not None and security not in _SECURITY:
        raise req.fail(f"unsupported security mode {security!r}", "use sandbox or insecure")
    specs = flags.list("mount")
    partial = ins.RunInstruction(**req.base, command=command, mount_specs=specs)
    mounts = tuple(ins.mount_from_spec(partial, spec, None) for spec in specs)
    return ins.RunInstruction(
        **req.base, command=command, mounts=mounts, mount_specs=specs, network=network,
        security=security, heredocs=req.node.heredocs,
    )


def _cmd(req: _Request) -> ins.CmdInstruction:
    req.flags()
    return ins.CmdInstruction(**req.base, command=_command(req))


def _entrypoint(req: _Request) -> ins.EntrypointInstruction:
    req.flags()
    return ins.EntrypointInstruction(**req.base, command=_command(req))


def _shell(req: _Request) -> ins.ShellInstruction:
    req.flags()
    args = _maybe_json(req.node.rest)
    if not args:
        raise req.fail(
            "SHELL requires the arguments to be in JSON form", 'e.g. SHELL ["/bin/bash", "-c"]'
        )
    return ins.ShellInstruction(**req.base, shell=tuple(args))


def _env(req: _Request) -> ins.EnvInstruction:
    req.flags()
    return ins.EnvInstruction(**req.base, pairs=_pairs(req))


def _label(req: _Request) -> ins.LabelInstruction:
    req.flags()
    return ins.LabelInstruction(**req.base, pairs=_pairs(req))


def _maintainer(req: _Request) -> ins.MaintainerInstruction:
    req.flags()
    return ins.MaintainerInstruction(**req.base, name=_exactly_one(req))


def _expose(req: _Request) -> ins.ExposeInstruction:
    req.flags()
    ports = split_whitespace(req.node.rest)
    if not ports:
        raise req.fail("EXPOSE requires at least one argument")
    return ins.ExposeInstruction(**req.base, ports=tuple(ports))


def _sources(req: _Request) -> tuple[tuple[str, ...], str, tuple[ins.InlineFile, ...]]:
    args = _list(req)
    if len(args) < 2:
        raise req.fail(
            f"{req.keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined.",
            f"{req.keyword} SOURCE... DEST",
        )
    *sources, dest = args
    if parse_heredoc_word(dest) is not None and req.node.heredocs:
        raise req.fail(f"{req.keyword} cannot accept a heredoc as a destination")
    heredocs = list(req.node.heredocs)
    paths: list[str] = []
    files: list[ins.InlineFile] = []
    for source in sources:
        head = parse_heredoc_word(source) if heredocs else None
        if head is None:
            paths.append(source)
            continue
        doc = heredocs.pop(0)
        files.append(ins.InlineFile(doc.name, doc.body, doc.expand))
    return tuple(paths), dest, tuple(files)


def _copy(req: _Request) -> ins.CopyInstruction:
    flags = req.flags()
    sources, dest, files = _sources(req)
    return ins.CopyInstruction(
        **req.base, sources=sources, dest=dest, inline_files=files,
        from_=flags.string("from"), chown=flags.string("chown"), chmod=flags.string("chmod"),
        link=flags.bool("link"), parents=flags.bool("parents"), excludes=flags.list("exclude"),
    )


def _add(req: _Request) -> ins.AddInstruction:
    flags = req.flags()
    sources, dest, files = _sources(req)
    return ins.AddInstruction(
        **req.base, sources=sources, dest=dest, inline_files=files,
        chown=flags.string("chown"), chmod=flags.string("chmod"), link=flags.bool("link"),
        excludes=flags.list("exclude"), checksum=flags.string("checksum"),
        keep_git_dir=flags.bool("keep-git-dir"),
    )


def _volume(req: _Request) -> ins.VolumeInstruction:
    req.flags()
    paths = _list(req)
    if not paths:
        raise req.fail("VOLUME requires at least one argument")
    if any(not p.strip() for p in paths):
        raise req.fail("VOLUME specified can not be an empty string")
    return ins.VolumeInstruction(**req.base, paths=tuple(paths))


def _user(req: _Request) -> ins.UserInstruction:
    req.flags()
    return ins.UserInstruction(**req.base, user=_exactly_one(req))


def _workdir(req: _Request) -> ins.WorkdirInstruction:
    req.flags()
    return ins.WorkdirInstruction(**req.base, path=_exactly_one(req))


def _arg(req: _Request) -> ins.ArgInstruction:
    req.flags()
    words = split_words(req.node.rest, req.escape)
    if not words:
        raise req.fail("ARG requires at least one argument", "ARG NAME[=DEFAULT]")
    args = []
    for word in words:
        name, eq, default = word.partition("=")
        if not name:
            raise req.fail(f"invalid ARG {word!r}: the name is empty")
        args.append(ins.ArgDef(name, default if eq else None))
    return ins.ArgInstruction(**req.base, args=tuple(args))


def _onbuild(req: _Request) -> ins.OnbuildInstruction:
    req.flags()
    expression = _ONBUILD_PREFIX.sub("", req.node.original, count=1).strip()
    if not expression:
        raise req.fail("ONBUILD requires at least one argument")
    trigger = parse_trigger(
        expression, req.base["file"], req.node.start_line, req.escape, req.node.heredocs
    )
    return ins.OnbuildInstruction(**req.base, expression=expression, trigger=trigger)


def parse_trigger(
    expression: str,
    filename: str = "ONBUILD",
    line: int = 1,
    escape: str = "\\",
    heredocs: tuple[Heredoc, ...] = (),
) -> ins.Instruction:
    """One ONBUILD trigger (e.g. from a base image config's OnBuild list) to an instruction."""
    keyword, _, tail = expression.strip().partition(" ")
    rest, flags = extract_flags(tail)
    node = Node(keyword.lower(), tuple(flags), rest.strip(), expression, line, line, heredocs)
    if node.keyword == "onbuild":
        raise DockerfileError(
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", file=filename, line=line
        )
    if node.keyword in ("from", "maintainer"):
        raise DockerfileError(
            f"{keyword.upper()} isn't allowed as an ONBUILD trigger", file=filename, line=line
        )
    return convert(node, filename, escape)


def _stopsignal(req: _Request) -> ins.StopsignalInstruction:
    req.flags()
    return ins.StopsignalInstruction(**req.base, signal=_exactly_one(req))


def _healthcheck(req: _Request) -> ins.HealthcheckInstruction:
    flags = req.flags()
    rest = req.node.rest
    kind, _, tail = rest.partition(" ")
    kind = kind.upper()
    if not rest:
        raise req.fail("HEALTHCHECK requires at least one argument", "HEALTHCHECK CMD command")
    if kind == "NONE":
        if tail.strip() or flags.strings:
            raise req.fail("HEALTHCHECK NONE takes no arguments")
        return ins.HealthcheckInstruction(**req.base, test=None)
    if kind != "CMD":
        raise req.fail(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
    tail = tail.strip()
    if not tail:
        raise req.fail("Missing command after HEALTHCHECK CMD")
    args = _maybe_json(tail)
    test = ("CMD", *args) if args is not None else ("CMD-SHELL", tail)
    retries_text = flags.string("retries")
    retries = 0
    if retries_text is not None:
        try:
            retries = int(retries_text)
        except ValueError:
            raise req.fail(f"invalid --retries value {retries_text!r}") from None
        if retries < 0:
            raise req.fail("--retries cannot be negative")
    durations = {}
    for name in ("interval", "timeout", "start-period", "start-interval"):
        try:
            durations[name.replace("-", "_")] = _duration(flags.string(name))
        except ValueError as err:
            raise req.fail(f"--{name}: {err}") from None
    return ins.HealthcheckInstruction(**req.base, test=test, retries=retries, **durations)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
            "m": 60 * 10**9, "h": 3600 * 10**9}
_MIN_DURATION_NS = 10**6


def _duration(text: str | None) -> int:
    """Go's time.ParseDuration (as BuildKit uses for HEALTHCHECK) to nanoseconds."""
    if not text:
        return 0
    body = text.lstrip("+")
    if body == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if not match:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if not body or body.startswith("-"):
        raise ValueError(f"invalid duration {text!r}")
    ns = int(total)
    if 0 < ns < _MIN_DURATION_NS:
        raise ValueError("cannot be less than 1ms")
    return ns


_CONVERTERS: dict[str, Callable[[_Request], ins.Instruction]] = {
    "from": _from, "run": _run, "cmd": _cmd, "entrypoint": _entrypoint, "shell": _shell,
    "env": _env, "label": _label, "maintainer": _maintainer, "expose": _expose,
    "copy": _copy, "add": _add, "volume": _volume, "user": _user, "workdir": _workdir,
    "arg": _arg, "onbuild": _onbuild, "stopsignal": _stopsignal, "healthcheck": _healthcheck,
}
