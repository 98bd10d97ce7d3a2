"""manifest-tool's registry flags as one value, shared by the `manifest` commands' declarations
(`multiarch.manifest`) and what they run (`multiarch.manifest_run`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
