""".dockerignore with Docker's exact semantics (moby/patternmatcher).

Patterns are filepath.Match globs plus `**`; each is cleaned (trailing slash dropped, one
leading slash dropped); later patterns win, `!` re-includes; a pattern that matches a parent
directory excludes everything below it. `<Dockerfile>.dockerignore` next to the Dockerfile is
used instead of the context's `.dockerignore` when it exists.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from builder.errors import SourceError

_ESCAPE = frozenset(".+()|{}$")


class _MatchType(Enum):
    EXACT = 1
    PREFIX = 2
    SUFFIX = 3
    REGEX = 4


@dataclass(frozen=True)
class IgnorePattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool
    match_type: _MatchType
    regex: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        if self.match_type is _MatchType.EXACT:
            return path == self.text
        if self.match_type is _MatchType.PREFIX:
            return path.startswith(self.text[:-2])
        if self.match_type is _MatchType.SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None


def compile_pattern(raw: str) -> IgnorePattern:
    """One pattern (as ReadAll left it) to a matcher; raises ValueError for a bad glob."""
    text = _clean(raw.strip())
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise ValueError('illegal exclusion pattern: "!"')
        text = text[1:]
    regex: list[str] = []
    match_type = _MatchType.EXACT
    i, n = 0, len(text)
    while i < n:
        start, ch = i, text[i]
        i += 1
        if ch == "*":
            if i < n and text[i] == "*":
                i += 1
                if i < n and text[i] == "/":
                    i += 1
                if i >= n:
                    if match_type is _MatchType.EXACT:
                        match_type = _MatchType.PREFIX
                    else:
                        regex.append(".*")
                        match_type = _MatchType.REGEX
                else:
                    regex.append("(.*/)?")
                    match_type = _MatchType.REGEX
                if start == 0:
                    match_type = _MatchType.SUFFIX
            else:
                regex.append("[^/]*")
                match_type = _MatchType.REGEX
        elif ch == "?":
            regex.append("[^/]")
            match_type = _MatchType.REGEX
        elif ch in _ESCAPE:
            regex.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                regex.append(re.escape(text[i]))
                i += 1
                match_type = _MatchType.REGEX
            else:
                regex.append("\\\\")
        elif ch in "[]":
            regex.append(ch)
            match_type = _MatchType.REGEX
        else:
            regex.append(ch)
    compiled = None
    if match_type is _MatchType.REGEX:
        try:
            compiled = re.compile("".join(regex), re.DOTALL)
        except re.error as err:
            raise ValueError(f"syntax error in pattern {raw!r}: {err}") from None
    return IgnorePattern(text, exclusion, match_type, compiled)


def _clean(text: str) -> str:
    exclusion = text.startswith("!")
    body = text[1:] if exclusion else text
    if body:
        body = posixpath.normpath(body)
        if body.startswith("//"):
            body = "/" + body.lstrip("/")
        if len(body) > 1 and body.startswith("/"):
            body = body[1:]
    return ("!" if exclusion else "") + body


def read_patterns(text: str) -> list[str]:
    """The pattern lines of a .dockerignore file, as patternmatcher's ReadAll returns them."""
    patterns = []
    for line in text.removeprefix("\ufeff").splitlines():
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = _clean(line)
        patterns.append(("!" if invert else "") + line)
    return patterns


@dataclass(frozen=True)
class DockerIgnore:
    patterns: tuple[IgnorePattern, ...] = ()
    source: str | None = None  # the file the patterns came from

    @classmethod
    def from_text(cls, text: str, source: str = ".dockerignore") -> "DockerIgnore":
        compiled = []
        for number, raw in _numbered_patterns(text):
            try:
                compiled.append(compile_pattern(raw))
            except ValueError as err:
                raise SourceError(str(err), file=source, line=number) from None
        return cls(tuple(compiled), source)

    @property
    def has_exclusions(self) -> bool:
        """True when `!` patterns exist: an excluded directory must still be walked."""
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether the context-relative path (forward slashes) is left out of the context."""
        path = posixpath.normpath(path.lstrip("/")) if path else "."
        parent = posixpath.dirname(path) or "."
        parents = parent.split("/") if parent != "." else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.matches(path)
            if not hit:
                hit = any(pattern.matches("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched


def _numbered_patterns(text: str) -> list[tuple[int, str]]:
    result: list[tuple[int, str]] = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        patterns = read_patterns(line)
        result.extend((number, p) for p in patterns)
    return result


def find_dockerignore(context_dir: Path, dockerfile: Path | None = None) -> Path | None:
    """`<Dockerfile>.dockerignore` beside the Dockerfile wins over `<context>/.dockerignore`."""
    if dockerfile is not None:
        specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
        if specific.is_file():
            return specific
    default = context_dir / ".dockerignore"
    return default if default.is_file() else None


def load_dockerignore(context_dir: Path, dockerfile: Path | None = None) -> DockerIgnore:
    path = find_dockerignore(context_dir, dockerfile)
    if path is None:
        return DockerIgnore()
    return DockerIgnore.from_text(path.read_text(encoding="utf-8", errors="replace"), str(path))
