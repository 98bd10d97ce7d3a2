"""Start-up stays lean: cheap commands import no heavy library, and the version constant that
`multiarch --version` prints without importlib.metadata matches the installed package."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import multiarch

HEAVY = ("httpx", "httpcore", "pydantic", "tenacity", "rich", "yaml", "ssl")


def test_version_constant_matches_the_package_metadata() -> None:
    assert multiarch.__version__ == importlib.metadata.version("multiarch")


@pytest.mark.parametrize("argv", [["--version"], ["executor", "--help"], ["copy", "--help"]])
def test_cheap_commands_import_no_heavy_library(argv: list[str]) -> None:
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['multiarch', *{argv!r}]\n"
        "try:\n    runpy.run_module('multiarch.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
