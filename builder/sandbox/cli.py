"""`multiarch qemu install|status`: QEMU user-mode emulators in binfmt_misc."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from builder.sandbox import qemu as emulators


@click.group(name="qemu")
def qemu() -> None:
    """Register and list QEMU emulators for foreign-architecture RUN steps."""


@qemu.command()
@click.argument("arches", nargs=-1)
def install(arches: tuple[str, ...]) -> None:
    """Register QEMU handlers (fix-binary flag) for ARCHES, e.g. arm64 s390x; default: all
    installed by qemu-user-static. Safe to run again."""
    handlers = emulators.install(arches)
    for handler in handlers:
        click.echo(f"ready: {handler.name} -> {handler.interpreter} (flags {handler.flags})")


@qemu.command()
def status() -> None:
    """List registered binfmt_misc emulators."""
    if not emulators.binfmt_misc_mounted():
        raise click.ClickException(
            f"{emulators.BINFMT_MISC} is not mounted here (a container sees the host's "
            "handlers without it): run `multiarch qemu status` on the host"
        )
    table = Table("arch", "handler", "interpreter", "flags", "enabled", box=None)
    table.columns[2].overflow = "fold"
    for handler in emulators.status():
        table.add_row(
            handler.architecture or handler.name.removeprefix("qemu-"),
            handler.name,
            handler.interpreter,
            handler.flags,
            "yes" if handler.enabled else "no",
        )
    Console().print(table)

