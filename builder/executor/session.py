"""What every stage of one build shares: store, scratch space, base images, finished stages,
secrets, the build context, progress and the step report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from builder.cache.build import BuildCache
from builder.dockerfile.dockerignore import DockerIgnore
from builder.executor.base import BaseImage, pull_base
from builder.executor.imageconfig import ImageState
from builder.executor.progress import Progress
from builder.executor.report import StepReport
from builder.executor.snapshot import Snapshotter
from builder.fs.rootfs import Rootfs
from builder.oci.models import Platform
from builder.oci.platform import format_platform
from builder.sandbox.spec import Isolation
from builder.store import Store
from builder.transports import TransportContext


@dataclass(frozen=True)
class StageResult:
    state: ImageState
    rootfs: Rootfs
    key: str
    """Cache key of the stage's last step (what a child stage's keys chain from)."""
    onbuild: tuple[str, ...] = ()
    """ONBUILD expressions declared in the stage (run by a stage built FROM it)."""


@dataclass
class BuildSession:
    store: Store
    snapshotter: Snapshotter
    transport: TransportContext
    progress: Progress
    context_dir: Path
    dockerignore: DockerIgnore
    secrets: dict[str, bytes]
    build_args: dict[str, str]
    isolation: Isolation
    epoch: datetime | None
    cache_mounts: Path
    cache: BuildCache
    single_snapshot: bool = False
    """--single-snapshot: each stage's steps end as one layer on its base."""
    run_network: str = "default"
    """RUN steps without their own --network: default (the host's), host or none."""
    extra_hosts: tuple[tuple[str, str], ...] = ()
    """(host, ip) lines added to /etc/hosts in RUN steps."""
    stages: dict[int, StageResult] = field(default_factory=dict)
    steps: list[StepReport] = field(default_factory=list)
    _bases: dict[tuple[str, str], BaseImage] = field(default_factory=dict)
    _pulls: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run_network_for(self, step_network: str | None) -> str:
        """The sandbox network of a RUN step: its own --network, else the build's."""
        chosen = self.run_network if step_network in (None, "default") else step_network
        return "none" if chosen == "none" else "host"

    def run_settings(self) -> str:
        """What a RUN step's cache key adds when the build's network or hosts differ from
        the defaults (a step that resolves a name may see another answer)."""
        if self.run_network == "default" and not self.extra_hosts:
            return ""
        return f"network={self.run_network};hosts={sorted(self.extra_hosts)}"

    def base_image(self, name: str, platform: Platform) -> BaseImage:
        """Pulled once per build; stages building in parallel wait for one another's pull."""
        key = (name, format_platform(platform))
        with self._lock:
            pulling = self._pulls.setdefault(key, threading.Lock())
        with pulling:
            if key not in self._bases:
                lazy = self.cache.lazy_base(name)
                self._bases[key] = pull_base(
                    name, platform, self.store, self.transport, extract=self.snapshotter.uses_overlay, lazy=lazy
                )
                if lazy:
                    self.cache.add_origins(self._bases[key].rootfs, name)
            return self._bases[key]

    def base_images(self) -> list[tuple[str, str]]:
        """(name, platform manifest digest) of every image pulled, in pull order."""
        return [(base.name, base.digest) for base in self._bases.values()]

    def layer_origins(self) -> dict[str, str]:
        """Layer digest -> the base image it came from (for cross-repository mounts)."""
        return {
            layer.descriptor.digest: base.name
            for base in self._bases.values()
            for layer in base.rootfs.layers
        }

    def view(self, rootfs: Rootfs) -> Path:
        """A finished filesystem to read from (COPY --from, RUN --mount from=)."""
        return self.snapshotter.view(self.cache.materialize(rootfs))

    def close(self) -> None:
        self.snapshotter.release()
