"""Go's filepath.Match (the wildcards of COPY/ADD sources and --exclude), with `**` for any
number of path components in --exclude patterns, as BuildKit's pattern matcher allows."""

from __future__ import annotations

import re
from functools import lru_cache

from builder.errors import BuildError

META = frozenset("*?[\\")


def has_wildcard(text: str) -> bool:
    return any(c in META for c in text)


@lru_cache(maxsize=512)
def component_regex(pattern: str) -> re.Pattern[str]:
    """One path component's pattern as a regex (`*`/`?` never match '/')."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "!") else i + 1)
            if end < 0:
                raise BuildError(f"syntax error in pattern {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "^" + body[1:].replace("\\", "\\\\")
            else:
                body = body.replace("\\", "\\\\")
            out.append(f"[{body}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def match_component(pattern: str, name: str) -> bool:
    return component_regex(pattern).match(name) is not None


class ExcludeMatcher:
    """--exclude patterns: path relative to the copied source; a pattern matches the path
    or any of its parents; `**` spans directories; `!pattern` re-includes."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._rules = [
            (p.startswith("!"), _path_regex(p.removeprefix("!").strip("/")))
            for p in patterns
            if p.strip()
        ]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def excluded(self, rel: str) -> bool:
        result = False
        for negated, regex in self._rules:
            if _matches_or_parent(regex, rel):
                result = not negated
        return result

    @property
    def has_exceptions(self) -> bool:
        return any(neg for neg, _ in self._rules)


def _matches_or_parent(regex: re.Pattern[str], rel: str) -> bool:
    parts = rel.split("/")
    return any(regex.match("/".join(parts[:n])) for n in range(len(parts), 0, -1))


@lru_cache(maxsize=256)
def _path_regex(pattern: str) -> re.Pattern[str]:
    pieces: list[str | None] = []
    for comp in pattern.split("/"):
        if comp == "**":
            pieces.append(None)
        else:
            pieces.append(component_regex(comp).pattern.removesuffix(r"\Z"))
    out = ""
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        if piece is None:
            out += ".*" if last else "(?:.*/)?"
        else:
            out += piece + ("" if last else "/")
    return re.compile(out + r"\Z")
