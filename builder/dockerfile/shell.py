"""Shell-word expansion with the semantics of BuildKit's Dockerfile lexer.

Not a shell: only quotes, the escape character and `$` parameter expansion (`$v`, `${v}`,
`${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?m}`, `${v?m}`, `${v#p}`, `${v##p}`, `${v%p}`,
`${v%%p}`, `${v/p/r}`, `${v//p/r}`). Unset variables expand to "" (or stay verbatim with
`skip_unset`, which BuildKit uses for global ARG defaults and heredoc names).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_EOF = ""
_SPECIAL = re.compile(r"[$'\"]")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ShellSyntaxError(ValueError):
    """A word that cannot be expanded; the caller adds file:line."""


@dataclass
class ExpansionResult:
    value: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ShellLex:
    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_process_quotes: bool = False
    skip_unset: bool = False

    def process(self, word: str, env: Mapping[str, str]) -> ExpansionResult:
        if not _SPECIAL.search(word) and self.escape not in word:
            return ExpansionResult(word, word.split())
        scanner = _Word(self, word, env)
        try:
            value, words = scanner.process_stop_on(_EOF, self.raw_escapes)
        except ShellSyntaxError as err:
            raise ShellSyntaxError(f"failed to process {word!r}: {err}") from None
        return ExpansionResult(value, words, scanner.matched, scanner.unmatched)

    def word(self, word: str, env: Mapping[str, str]) -> str:
        return self.process(word, env).value

    def words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return self.process(word, env).words


@functools.lru_cache(maxsize=16)
def _plain_run(escape: str, stop: str) -> re.Pattern[str]:
    """A run of characters with no special meaning to the lexer."""
    return re.compile("[^" + re.escape("$'\"" + escape + stop) + "]+")


class _Words:
    """Word splitting after expansion: unquoted whitespace separates words."""

    __slots__ = ("word", "words", "in_word")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_string(self, text: str) -> None:
        if not text:
            return
        parts = text.split()
        if not parts:  # only whitespace: ends the current word
            self.add_char(" ")
            return
        if text[0].isspace():
            self.add_char(" ")
        for i, part in enumerate(parts):
            if i:
                self.add_char(" ")
            self.add_raw(part)
        if text[-1].isspace():
            self.add_char(" ")

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Word:
    def __init__(self, lex: ShellLex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._process_stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _process_stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        escape = self.lex.escape
        quotes = not self.lex.skip_process_quotes
        plain = _plain_run(escape, stop)
        while self.pos < len(self.text):
            run = plain.match(self.text, self.pos)
            if run:
                chunk = run.group()
                self.pos = run.end()
                result.append(chunk)
                words.add_string(chunk)
                continue
            ch = self.text[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(result), words.get()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_string(value)
            elif quotes and ch == "'":
                value = self.single_quote()
                result.append(value)
                words.add_raw(value)
            elif quotes and ch == '"':
                value = self.double_quote()
                result.append(value)
                words.add_raw(value)
            else:
                self.pos += 1
                if ch == escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise ShellSyntaxError(
                f"unexpected end of statement while looking for matching {stop}"
            )
        return "".join(result), words.get()

    def single_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        escape = self.lex.escape
        while True:
            nxt = self.peek()
            if nxt == _EOF:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if nxt == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if nxt == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", escape):
                    ch = self.next()
            out.append(ch)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset:
                return "$" + name
            return value
        self.next()
        first = self.peek()
        if first == _EOF:
            raise ShellSyntaxError("syntax error: missing '}'")
        if first in "{}:":
            raise ShellSyntaxError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == _EOF:
            raise ShellSyntaxError("syntax error: missing '}'")
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self.replace(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        if ch not in ("+", "-", "?", "#", "%"):
            raise ShellSyntaxError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.process_stop_on("}", ch in "#%")
        except ShellSyntaxError:
            if self.peek() == _EOF:
                raise ShellSyntaxError("syntax error: missing '}'") from None
            raise
        value, found = self.get_env(name)
        if self.lex.skip_unset and not found:
            return "${" + name + modifier + word + "}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        if ch == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.process_stop_on("/", True)
        except ShellSyntaxError:
            if self.peek() == _EOF:
                raise ShellSyntaxError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.process_stop_on("}", True)
        except ShellSyntaxError:
            if self.peek() == _EOF:
                raise ShellSyntaxError("syntax error: missing '}'") from None
            raise
        value, found = self.get_env(name)
        if self.lex.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        return regex.sub(lambda _m: replacement, value, count=1)

    def name(self) -> str:
        start = self.pos
        text = self.text
        if start < len(text):
            ch = text[start]
            if ch.isdigit():
                end = start
                while end < len(text) and text[end].isdigit():
                    end += 1
                self.pos = end
                return text[start:end]
            if ch in _SPECIAL_PARAMS:
                self.pos += 1
                return ch
        end = start
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        self.pos = end
        return text[start:end]

    def get_env(self, name: str) -> tuple[str, bool]:
        value = self.env.get(name)
        if value is None:
            self.unmatched.add(name)
            return "", False
        self.matched.add(name)
        return value, True


_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Shell wildcard (`*`, `?`, backslash escapes; no brackets) to a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else _EOF
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise ShellSyntaxError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'"
                )
            out.append("\\" + following)
            i += 1
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(re.escape(ch) if not ch.isalnum() else ch)
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each backslash escape in front of its character."""
    units: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            units.append(pattern[i:i + 2])
            i += 2
        else:
            units.append(pattern[i])
            i += 1
    return "".join(reversed(units))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex cannot find the shortest rightmost match: reverse both and trim a prefix.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]
