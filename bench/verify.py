"""Check what a timed build pushed, with skopeo (an independent client): a benchmark of a
build that produced the wrong thing would be a figure about nothing."""

from __future__ import annotations

import json
import subprocess


def _inspect(ref: str, *flags: str) -> dict[str, object]:
    done = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *flags, f"docker://{ref}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise LookupError(lines[-1] if lines else f"skopeo inspect exit {done.returncode}")
    return json.loads(done.stdout)


def pushed_platforms(ref: str) -> list[str]:
    raw = _inspect(ref, "--raw")
    entries = raw.get("manifests")
    if isinstance(entries, list):
        return sorted(f"{e['platform']['os']}/{e['platform']['architecture']}" for e in entries)
    config = _inspect(ref, "--config")
    return [f"{config['os']}/{config['architecture']}"]


def problem(ref: str, platforms: tuple[str, ...]) -> str | None:
    """None when `ref` exists with exactly these platforms (os/arch), else what is wrong."""
    want = sorted("/".join(p.split("/")[:2]) for p in platforms)
    try:
        have = pushed_platforms(ref)
    except (LookupError, KeyError, json.JSONDecodeError) as err:
        return f"pushed image unreadable: {err}"
    return None if have == want else f"pushed {', '.join(have)}, expected {', '.join(want)}"
