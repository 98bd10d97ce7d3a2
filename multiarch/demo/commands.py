"""Commands the demo and `./tasks image` run, echoed as a user would type them."""

from __future__ import annotations

import subprocess
import sys

import click


def run(*argv: str, capture: bool = False, what: str = "demo") -> str:
    """Run `argv`, echoing it; on failure stop with one line saying `what` failed."""
    click.secho("$ " + " ".join(argv), fg="cyan", err=True)
    done = subprocess.run(argv, check=False, text=True, capture_output=capture)
    if done.returncode != 0:
        if capture:
            sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{what} failed: {argv[0]} {argv[1]} exited with {done.returncode}")
    return done.stdout if capture else ""


def run_multiarch(*args: str, what: str = "demo") -> None:
    """This checkout's own `multiarch` command, with this Python."""
    run(sys.executable, "-m", "multiarch.cli", *args, what=what)
