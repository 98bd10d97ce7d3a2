"""manifest-tool's registry flags as one value and as click options, shared by the `manifest`
commands' and `multiarch verify`'s declarations and what they run (`multiarch.manifest_run`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., None])


@dataclass
class RegistryFlags:
    """manifest-tool's global flags; given on `manifest` or on the subcommand."""

    insecure: bool = False
    username: str | None = None
    password: str | None = None
    docker_cfg: Path | None = None

    def merged(self, other: RegistryFlags) -> RegistryFlags:
        return RegistryFlags(
            insecure=self.insecure or other.insecure,
            username=other.username or self.username,
            password=other.password or self.password,
            docker_cfg=other.docker_cfg or self.docker_cfg,
        )


def registry_flags(command: F) -> F:
    options = [
        click.option("--insecure", is_flag=True, help="Allow plain HTTP and unverified TLS."),
        click.option("--username", help="Registry login (all registries involved)."),
        click.option("--password", help="Registry password (never logged)."),
        click.option(
            "--docker-cfg",
            type=click.Path(path_type=Path),
            help="Docker config.json (file or directory).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command
