"""Dockerfile text to raw nodes: directives, continuations, comments, heredocs, flags.

This is the first of three steps (parse → typed instructions → expansion), as in BuildKit's
frontend. A node keeps the instruction keyword, its `--flags` and the rest of the line
unprocessed, plus the heredoc bodies that follow it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from builder.dockerfile.shell import ShellLex, ShellSyntaxError
from builder.errors import DockerfileError

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_SIMPLE_FLAG = re.compile(r"--[^\s'\"\\]*(?=\s|$)")
_EMPTY_ENV: dict[str, str] = {}


@dataclass(frozen=True)
class Directives:
    syntax: str | None = None
    escape: str = "\\"
    check: str | None = None


@dataclass(frozen=True)
class Heredoc:
    """A here-document: `name` is the delimiter (quotes removed); `expand` is False when the
    delimiter was quoted; `chomp` is the `<<-` form (leading tabs stripped from content)."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def body(self) -> str:
        """The content with `<<-` tab stripping applied."""
        if not self.chomp:
            return self.content
        return "".join(line.lstrip("\t") for line in self.content.splitlines(keepends=True))


@dataclass(frozen=True)
class Node:
    keyword: str  # lower case
    flags: tuple[str, ...]
    rest: str  # after keyword and flags, trimmed
    original: str  # the logical line as written (continuations joined)
    start_line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class ParsedFile:
    filename: str
    directives: Directives
    nodes: tuple[Node, ...]


def parse_nodes(text: str, filename: str = "Dockerfile") -> ParsedFile:
    lines = text.removeprefix("\ufeff").split("\n")
    for i, line in enumerate(lines):
        if line.endswith("\r"):
            lines[i] = line[:-1]
    directives, first = _parse_directives(lines, filename)
    escape = directives.escape
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    nodes: list[Node] = []
    i = first
    count = len(lines)
    while i < count:
        start = i + 1
        line = lines[i].lstrip(" \t\v\f\r")
        i += 1
        if not line or line.startswith("#"):
            continue
        line, ended = _trim_continuation(line, continuation)
        if ended and not line:
            continue
        parts = [line]
        while not ended and i < count:
            raw = lines[i]
            i += 1
            stripped = raw.lstrip(" \t\v\f\r")
            if stripped.startswith("#"):
                continue
            if not raw.strip():
                continue
            raw, ended = _trim_continuation(raw, continuation)
            parts.append(raw)
        logical = "".join(parts)
        keyword, flags, rest = _split_command(logical, filename, start)
        if not keyword:
            continue
        heredocs: list[Heredoc] = []
        if keyword in _HEREDOC_INSTRUCTIONS and "<<" in logical:
            for head in heredoc_names(logical):
                body: list[str] = []
                terminated = False
                while i < count:
                    raw = lines[i]
                    i += 1
                    candidate = raw.lstrip("\t") if head.chomp else raw
                    if candidate == head.name:
                        terminated = True
                        break
                    body.append(raw + "\n")
                if not terminated:
                    raise DockerfileError(
                        f"{keyword.upper()}: unterminated heredoc {head.name!r}",
                        file=filename,
                        line=start,
                        hint=f"end the here-document with a line holding only {head.name}",
                    )
                heredocs.append(
                    Heredoc(head.name, "".join(body), head.expand, head.chomp, head.fd)
                )
        nodes.append(
            Node(keyword, tuple(flags), rest, logical, start, i, tuple(heredocs))
        )
    return ParsedFile(filename, directives, tuple(nodes))


def _parse_directives(lines: list[str], filename: str) -> tuple[Directives, int]:
    """Directives are only recognised in the leading run of `# key=value` lines."""
    found: dict[str, str] = {}
    index = 0
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line.lstrip(" \t"))
        if not match or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            break
        key = match.group(1).lower()
        if key in found:
            raise DockerfileError(
                f"only one {key} parser directive can be used", file=filename, line=index + 1
            )
        found[key] = match.group(2)
    else:
        index = len(lines)
    escape = found.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(
            f"invalid escape token {escape!r} does not match ` or \\",
            file=filename,
            line=list(found).index("escape") + 1,
        )
    return Directives(found.get("syntax"), escape, found.get("check")), index


def _trim_continuation(line: str, continuation: re.Pattern[str]) -> tuple[str, bool]:
    match = continuation.search(line)
    if match:
        return line[: match.start()], False
    return line, True


def _split_command(line: str, filename: str, lineno: int) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    keyword = parts[0].lower()
    if len(parts) < 2:
        return keyword, [], ""
    rest, flags = extract_flags(parts[1])
    return keyword, flags, rest.strip()


def extract_flags(line: str) -> tuple[str, list[str]]:
    """Split leading `--flag[=value]` words off an instruction's arguments (quotes and
    backslash escapes honoured inside flags, as BuildKit's extractBuilderFlags)."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        simple = _SIMPLE_FLAG.match(line, pos)
        if simple:
            if simple.group() == "--":
                return line[simple.end():], words
            words.append(simple.group())
            pos = simple.end()
            continue
        word: list[str] = []
        blank_ok = False
        quote = ""
        while pos < n:
            ch = line[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and pos + 1 < n:
                    pos += 1
                    word.append(line[pos])
                elif ch != "\\":
                    word.append(ch)
                pos += 1
                continue
            if ch.isspace():
                break
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == "\\":
                if pos + 1 < n:
                    pos += 1
                    word.append(line[pos])
            else:
                word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return line[pos:], words
        if blank_ok or text:
            words.append(text)


def split_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words that keep their quotes and escapes (BuildKit's
    parseWords): used for ENV/LABEL/ARG, whose values are expanded later."""
    if "'" not in rest and '"' not in rest and escape not in rest:
        return rest.split()
    words: list[str] = []
    word: list[str] = []
    in_word = False
    blank_ok = False
    quote = ""
    i = 0
    n = len(rest)
    while i < n:
        ch = rest[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        if ch.isspace():
            if in_word and (blank_ok or word):
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
            i += 1
            continue
        in_word = True
        if ch in "'\"":
            quote, blank_ok = ch, True
        elif ch == escape:
            if i + 1 == n:
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def split_whitespace(rest: str) -> list[str]:
    return [word for word in _WHITESPACE.split(rest.strip()) if word]


@dataclass(frozen=True)
class HeredocHead:
    name: str
    expand: bool
    chomp: bool
    fd: int


def parse_heredoc_word(word: str) -> HeredocHead | None:
    """`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF` → the heredoc it opens, else None."""
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    try:
        words = ShellLex(skip_unset=True).words(rest, _EMPTY_ENV)
        raw = ShellLex(skip_unset=True, raw_quotes=True).words(rest, _EMPTY_ENV)
    except ShellSyntaxError:
        return None
    if len(words) != 1 or len(raw) != 1:
        return None
    quotes_cooked = words[0].count("'") + words[0].count('"')
    quotes_raw = raw[0].count("'") + raw[0].count('"')
    return HeredocHead(
        name=words[0],
        expand=quotes_cooked == quotes_raw,
        chomp=match.group(2) == "-",
        fd=int(match.group(1) or 0),
    )


def heredoc_names(line: str) -> list[HeredocHead]:
    try:
        words = ShellLex(raw_quotes=True, raw_escapes=True).words(line, _EMPTY_ENV)
    except ShellSyntaxError:
        return []
    return [head for word in words if (head := parse_heredoc_word(word)) is not None]
