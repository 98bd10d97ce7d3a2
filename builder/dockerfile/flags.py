"""`--flag[=value]` parsing for one instruction, with BuildKit's rules and our error hints."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum


class FlagKind(Enum):
    STRING = "string"
    BOOL = "bool"
    LIST = "list"  # repeatable string


class FlagError(ValueError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool, which BuildKit uses for flag and mount option values."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FlagError(f"invalid boolean value {value!r}", "use true or false")


@dataclass
class ParsedFlags:
    strings: dict[str, str] = field(default_factory=dict)
    bools: dict[str, bool] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)

    def string(self, name: str) -> str | None:
        return self.strings.get(name)

    def bool(self, name: str) -> bool:
        return self.bools.get(name, False)

    def list(self, name: str) -> tuple[str, ...]:
        return tuple(self.lists.get(name, ()))


def parse_flags(words: tuple[str, ...], spec: dict[str, FlagKind]) -> ParsedFlags:
    parsed = ParsedFlags()
    for word in words:
        name, has_value, value = word.removeprefix("--").partition("=")
        kind = spec.get(name)
        if kind is None:
            known = sorted(spec)
            close = difflib.get_close_matches(name, known, n=1)
            if close:
                hint = f"did you mean --{close[0]}?"
            elif known:
                hint = "accepted flags: " + ", ".join("--" + k for k in known)
            else:
                hint = "this instruction takes no flags"
            raise FlagError(f"unknown flag: --{name}", hint)
        if kind is FlagKind.BOOL:
            parsed.bools[name] = parse_bool(value) if has_value else True
            continue
        if not has_value:
            raise FlagError(f"missing a value on flag: --{name}", f"write --{name}=VALUE")
        if kind is FlagKind.LIST:
            parsed.lists.setdefault(name, []).append(value)
        elif name in parsed.strings:
            raise FlagError(f"duplicate flag specified: --{name}")
        else:
            parsed.strings[name] = value
    return parsed
