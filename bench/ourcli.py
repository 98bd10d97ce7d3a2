"""How the bench calls our `multiarch` command: which executable, whether a subcommand exists
yet, and how it is told that the loopback registry speaks plain HTTP (read from its --help,
since the flag names land with the subcommands)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path


@functools.cache
def executable() -> str:
    beside = Path(sys.executable).parent / "multiarch"
    return str(beside) if beside.exists() else (shutil.which("multiarch") or "multiarch")


@functools.cache
def _help(sub: str) -> tuple[int, str, str]:
    done = subprocess.run([executable(), sub, "--help"], capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


def unavailable(sub: str) -> str | None:
    """None when `multiarch SUB` exists, else its first error line."""
    code, out, err = _help(sub)
    if code == 0:
        return None
    lines = [ln.strip() for ln in (err + out).splitlines() if ln.strip()]
    return f"`multiarch {sub}` " + (lines[-1] if lines else f"exit {code}")


def insecure_flags(sub: str, hosts: list[str]) -> list[str]:
    text = _help(sub)[1]
    if "--insecure-registry" in text:
        return [a for host in hosts for a in ("--insecure-registry", host)]
    if "--src-tls-verify" in text:
        return ["--src-tls-verify=false", "--dest-tls-verify=false"]
    if "--insecure" in text:
        return ["--insecure"]
    return []
