"""`multiarch cache` commands: `prune [--older-than DURATION] [--max-size SIZE] [--cache-dir DIR]`.

DURATION: a number with s, m, h, d or w (e.g. 36h, 7d). SIZE: bytes with an optional
K/M/G/T suffix (powers of 1024, e.g. 10G).
"""

from __future__ import annotations

import re

import click

from builder.errors import UsageError
from builder.store import default_store
from builder.store.gc import prune

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kmgt]?)(i?b)?$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UsageError(f"invalid duration {text!r}", hint="use e.g. 30m, 36h, 7d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def parse_size(text: str) -> int:
    match = _SIZE.match(text.strip().lower())
    if not match:
        raise UsageError(f"invalid size {text!r}", hint="use e.g. 500M, 10G")
    return int(float(match.group(1)) * _BYTES[match.group(2)])


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@click.group("cache")
def cache() -> None:
    """Manage the local blob and layer cache."""


@cache.command("prune")
@click.option("--older-than", help="Remove what was not used for this long (e.g. 7d).")
@click.option("--max-size", help="Then remove least recently used until at most this size (e.g. 10G).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Store directory (default: $MULTIARCH_CACHE_DIR or ~/.cache/multiarch).")
def prune_command(older_than: str | None, max_size: str | None, cache_dir: str | None) -> None:
    """Remove cached blobs and extracted layers; never what a running build uses.

    Without options, everything not in use is removed.
    """
    age = parse_duration(older_than) if older_than else None
    size = parse_size(max_size) if max_size else None
    if age is None and size is None:
        age = 0.0
    with default_store(cache_dir) as store:
        report = prune(store, older_than=age, max_size=size)
    click.echo(
        f"removed {report.removed_blobs} blobs and {report.removed_layers} layers, "
        f"freed {_human(report.freed_bytes)}"
        + (f"; {report.kept_in_use} in use kept" if report.kept_in_use else "")
    )
