"""BuildKit lexer semantics: expansion, quotes, escapes, modifiers, errors."""

import pytest

from builder.dockerfile.shell import ShellLex, ShellSyntaxError

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "EMPTY": "", "X": "abcabc",
       "OTHER": "fallback", "SP": "a b"}

CASES = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", None),
    ('he"ll"o', "hello"),
    ("he\\'llo", "he'llo"),
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("'$PWD'", "$PWD"),
    ('"$PWD"', "/home"),
    ("\\$PWD", "$PWD"),
    ('"\\$PWD"', "$PWD"),
    ('"a\\b"', "a\\b"),
    ('"a\\"b"', 'a"b'),
    ("$PWDx", ""),
    ("${PWD}x", "/homex"),
    ("$", "$"),
    ("a$", "a$"),
    ("$1x", "x"),
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${UNSET-default}", "default"),
    ("${PWD:-default}", "/home"),
    ("${UNSET:-$OTHER}", "fallback"),
    ("${UNSET:-${EMPTY:-$OTHER}}", "fallback"),
    ("${PWD:+set}", "set"),
    ("${EMPTY:+set}", ""),
    ("${EMPTY+set}", "set"),
    ("${UNSET+set}", ""),
    ("${PWD:?msg}", "/home"),
    ("${X#a*}", "bcabc"),
    ("${X##a*}", ""),
    ("${X##*b}", "c"),
    ("${X%b*}", "abca"),
    ("${X%%b*}", "a"),
    ("${X%c}", "abcab"),
    ("${X/b/_}", "a_cabc"),
    ("${X//b/_}", "a_ca_c"),
    ("${X/b*/_}", "a_"),
    ("${KOREAN}", "한국어"),
    ("${SP}", "a b"),
    ("trailing\\", "trailing"),
]


@pytest.mark.parametrize(("word", "expected"), CASES)
def test_word(word, expected):
    lex = ShellLex()
    if expected is None:
        with pytest.raises(ShellSyntaxError):
            lex.word(word, ENV)
    else:
        assert lex.word(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET?custom msg}", "UNSET: custom msg"),
        ("${PWD", "missing '}'"),
        ("${}", "bad substitution"),
        ("${:x}", "bad substitution"),
        ("${PWD:1}", "unsupported modifier (:1)"),
        ('"unterminated', "double-quote"),
    ],
)
def test_errors(word, message):
    with pytest.raises(ShellSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ShellLex().word(word, ENV)


def test_backtick_escape():
    lex = ShellLex(escape="`")
    assert lex.word("C:\\path`$PWD", ENV) == "C:\\path$PWD"


def test_words_split_after_expansion_but_not_inside_quotes():
    lex = ShellLex()
    assert lex.words("$SP 'c d' e\\ f", ENV) == ["a", "b", "c d", "e f"]


def test_skip_unset_keeps_references():
    lex = ShellLex(skip_unset=True)
    assert lex.word("$NOPE-${NOPE:-x}-$PWD", ENV) == "$NOPE-${NOPE:-x}-/home"


def test_matched_and_unmatched_names():
    result = ShellLex().process("$PWD $NOPE", ENV)
    assert result.matched == {"PWD"} and result.unmatched == {"NOPE"}
