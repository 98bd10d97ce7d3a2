"""--chmod values against the real chmod(1) (coreutils, umask 0) on real files and
directories: the symbolic grammar BuildKit accepts since Dockerfile 1.14."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from builder.dockerfile.chmod import ChmodError, parse_chmod

SPECS = ["+x", "-x", "u+x", "a+rX", "u=rwX,go=rX", "go-rwx", "g=u", "o=g", "u+s", "g+s",
         "+t", "a-w,u+s", "u=rw,g=r,o=", "=r", "ug+w,o-r", "u+x,g=u", "+X", "o+s",
         "a=rwx,o-w", "u-w+x", "=", "g+u-w", "ugo=rx"]
# Starting modes without setuid/setgid/sticky: for those GNU's `=` has rules of its own;
# BSD's (BuildKit's) are tested below.
START = [0o644, 0o755, 0o600, 0o700, 0o711, 0o777, 0o000, 0o640, 0o451]


def _real_chmod(tmp_path: Path, spec: str) -> dict[tuple[int, bool], int]:
    """One chmod(1) call over a file and a directory of every starting mode."""
    paths = {}
    for start in START:
        for is_dir in (False, True):
            path = tmp_path / f"{'d' if is_dir else 'f'}{start:o}"
            path.mkdir() if is_dir else path.touch()
            os.chmod(path, start)
            paths[start, is_dir] = path
    subprocess.run(["sh", "-c", 'umask 0 && chmod -- "$@"', "sh", spec, *map(str, paths.values())],
                   check=True)
    return {key: stat.S_IMODE(os.stat(path).st_mode) for key, path in paths.items()}


@pytest.mark.parametrize("spec", SPECS)
def test_symbolic_modes_match_chmod_1(tmp_path: Path, spec: str) -> None:
    parsed = parse_chmod(spec)
    for (start, is_dir), want in _real_chmod(tmp_path, spec).items():
        assert parsed.apply(start, is_dir) == want, (spec, oct(start), is_dir)


def test_special_bits_as_in_bsd_setmode() -> None:
    # BuildKit vendors BSD setmode (tonistiigi/dchapes-mode): `=` without `who` clears the
    # standard bits (setuid and setgid, not sticky); copying a class (`g=u`) moves rwx only.
    assert parse_chmod("=r").apply(0o1777, False) == 0o1444
    assert parse_chmod("=r").apply(0o4711, True) == 0o444
    assert parse_chmod("g=u").apply(0o2750, False) == 0o2770
    assert parse_chmod("+t").apply(0o644, False) == 0o1644
    assert parse_chmod("o+s").apply(0o644, False) == 0o644  # s means nothing for `o`


def test_octal_is_absolute() -> None:
    assert parse_chmod("0640").apply(0o777, False) == 0o640
    assert parse_chmod("755").apply(0o600, True) == 0o755


@pytest.mark.parametrize("text,message", [
    ("999", "invalid chmod parameter: '999'. it should be octal string and between 0 and 07777"),
    ("17777", "between 0 and 07777"),
    ("u+q", "invalid chmod parameter: 'u+q': invalid syntax"),
    ("u", "invalid syntax"), ("x+r", "invalid syntax"), ("u+r,", "invalid syntax"),
])
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ChmodError, match=message.replace("(", r"\(").replace("+", r"\+")):
        parse_chmod(text)
