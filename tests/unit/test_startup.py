"""Start-up stays lean (issue 16): `--help` of the everyday commands imports only click, the
standard library and the light command-declaration modules; `multiarch --help` lists the
commands without importing them; the version constant matches the installed package."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys

import pytest

import multiarch
from multiarch.cli import SHORT_HELP, SUBCOMMANDS

# What a cheap command may import besides the standard library and click: the declarations of
# the commands and what they need to render --help. httpx, pydantic, rich, tenacity, yaml...
# come in only when a command runs.
ALLOWED_OWN = {
    "builder", "builder.cli", "builder.errors", "builder.log", "builder.option_choices",
    "builder.pool", "multiarch", "multiarch.build_command", "multiarch.build_flags", "multiarch.cli",
    "multiarch.copy", "multiarch.manifest", "multiarch.manifest_flags", "multiarch.verify",
}
HEAVY_STDLIB = {"ssl", "asyncio", "email", "http", "subprocess", "socket", "tarfile"}
PROBES = ("org",)  # a standard module looking for Jython's org.python.core


MARK = "-- the command starts --"


def imported_modules(argv: list[str]) -> list[str]:
    """What the command imports, after the interpreter's own start-up (site, sitecustomize:
    Debian's tries apport_python_hook; .pth hooks of the venv)."""
    probe = (
        f"import sys; print({MARK!r}, file=sys.stderr, flush=True); "
        "from multiarch.cli import main; main(sys.argv[1:])"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe, *argv],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [
        line.split("|")[2].strip()
        for line in done.stderr.partition(MARK)[2].splitlines()
        if line.startswith("import time:") and not line.endswith("imported package")
    ]


def unexpected(module: str) -> bool:
    top = module.split(".")[0]
    if top in ("builder", "multiarch"):
        return module not in ALLOWED_OWN
    if top == "click" or top in PROBES:
        return False
    return top not in sys.stdlib_module_names or top in HEAVY_STDLIB


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["executor", "--help"], ["manifest", "push", "--help"],
     ["manifest", "push", "from-spec", "--help"], ["manifest", "inspect", "--help"],
     ["copy", "--help"], ["build", "--help"], ["verify", "--help"]],
    ids=" ".join,
)
def test_cheap_commands_import_only_what_help_needs(argv: list[str]) -> None:
    assert [m for m in imported_modules(argv) if unexpected(m)] == []


def test_the_short_help_table_matches_the_commands() -> None:
    for name, target in SUBCOMMANDS.items():
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert command.get_short_help_str(limit=1000) == SHORT_HELP[name], name


def test_version_constant_matches_the_package_metadata() -> None:
    assert multiarch.__version__ == importlib.metadata.version("multiarch")
