"""manifest-tool's registry flags as one value and as click options, shared by the `manifest`
commands' and `multiarch verify`'s declarations and what they run (`multiarch.manifest_run`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., None])


@dataclass
class RegistryFlags:
    """manifest-tool's global flags; given on `manifest` or on the subcommand."""

    insecure: bool = False
    username: str | None = None
    password: str | None = None
    docker_cfg: Path | None = None
    registry_certificate: tuple[str, ...] = ()
    """HOST=PATH: an extra CA file for a registry (as the executor's flag)."""
    registry_client_cert: tuple[str, ...] = ()
    """HOST=CERT,KEY: the client certificate a registry asks for (mutual TLS)."""

    def merged(self, other: RegistryFlags) -> RegistryFlags:
        return RegistryFlags(
            insecure=self.insecure or other.insecure,
            username=other.username or self.username,
            password=other.password or self.password,
            docker_cfg=other.docker_cfg or self.docker_cfg,
            registry_certificate=self.registry_certificate + other.registry_certificate,
            registry_client_cert=self.registry_client_cert + other.registry_client_cert,
        )


_FIELDS = [field.name for field in dataclasses.fields(RegistryFlags)]


def registry_flags(command: F) -> F:
    """Declares the flags and hands `command` them as one `registry: RegistryFlags`."""

    @functools.wraps(command)
    def with_registry(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name) for name in _FIELDS}
        command(*args, registry=RegistryFlags(**given), **kwargs)

    options = [
        click.option("--insecure", is_flag=True, help="Allow plain HTTP and unverified TLS."),
        click.option("--username", help="Registry login (all registries involved)."),
        click.option("--password", help="Registry password (never logged)."),
        click.option(
            "--docker-cfg",
            type=click.Path(path_type=Path),
            help="Docker config.json (file or directory).",
        ),
        click.option(
            "--registry-certificate", multiple=True, metavar="HOST=PATH",
            help="Extra CA file for a registry.",
        ),
        click.option(
            "--registry-client-cert", multiple=True, metavar="HOST=CERT,KEY",
            help="Client certificate and key for a registry that asks for one (mutual TLS).",
        ),
    ]
    for option in reversed(options):
        with_registry = option(with_registry)
    return cast(F, with_registry)
