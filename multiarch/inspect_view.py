"""`multiarch manifest inspect` as rich tables: an index's platforms, or an image's layers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from builder.oci.models import ImageConfig
from builder.oci.raw import RawManifest


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def render(
    name: str, top: RawManifest, config: ImageConfig | None, console: Console | None = None
) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=250)  # pipes and CI logs: never cut a digest
    console.print(f"[bold]{name}[/bold]")
    console.print(f"digest: {top.digest}  media type: {top.media_type}  size: {len(top.data)}")
    if top.is_index:
        index = top.index()
        table = Table("#", "platform", "digest", "size", "media type", "annotations")
        table.columns[2].overflow = "fold"
        for position, entry in enumerate(index.manifests, 1):
            annotations = ", ".join(f"{k}={v}" for k, v in (entry.annotations or {}).items())
            table.add_row(
                str(position),
                str(entry.platform) if entry.platform else "-",
                entry.digest,
                human_size(entry.size),
                entry.media_type,
                annotations,
            )
        console.print(table)
        for key, value in (index.annotations or {}).items():
            console.print(f"annotation {key}={value}")
        return
    manifest = top.manifest()
    assert config is not None
    config_size = human_size(manifest.config.size)
    console.print(
        f"platform: {config.platform()}  config: {manifest.config.digest} ({config_size})"
    )
    table = Table("#", "layer digest", "size", "media type")
    table.columns[1].overflow = "fold"
    for position, layer in enumerate(manifest.layers, 1):
        table.add_row(str(position), layer.digest, human_size(layer.size), layer.media_type)
    console.print(table)
    total = sum(layer.size for layer in manifest.layers)
    console.print(f"{len(manifest.layers)} layers, {human_size(total)} compressed")
