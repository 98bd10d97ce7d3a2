"""What one RUN step needs from the sandbox: typed values, no behaviour."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from builder.oci.models import Platform


class Isolation(str, enum.Enum):
    """How a RUN step is separated from the builder (`--isolation`)."""

    AUTO = "auto"
    NAMESPACE = "namespace"  # new mount/pid/ipc/uts namespaces, proc/sys/dev, pivot_root
    CHROOT = "chroot"  # chroot only: for where mounting and unshare are not permitted
    # PRoot's ptrace path translation: where neither is permitted (an unprivileged container)
    # the step still gets the container's /proc, /dev and /sys
    PROOT = "proot"
    CONTAINER_ROOT = "container-root"  # kaniko's model: the build root is the container's "/"


@dataclass(frozen=True)
class BindMount:
    """Bind `source` (a host path, e.g. a cache dir or a secret file) at `target` in the root."""

    source: Path
    target: str
    readonly: bool = False


@dataclass(frozen=True)
class TmpfsMount:
    """A fresh tmpfs at `target`; `size` in bytes (None: the kernel's default)."""

    target: str
    size: int | None = None


Mount = BindMount | TmpfsMount

DEFAULT_HOSTNAME = "buildkitsandbox"


@dataclass(frozen=True)
class RunSpec:
    """One process to run: `argv` with exactly `env` as environment, in `cwd` inside `root`.

    `root` is the prepared root filesystem (e.g. the overlay merged dir); with isolation
    `container-root` it is "/". `platform` is the target platform (None: the host's); a foreign
    one needs a registered QEMU emulator.
    """

    root: Path
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    extra_gids: tuple[int, ...] = ()
    mounts: tuple[Mount, ...] = field(default=())
    hostname: str = DEFAULT_HOSTNAME
    network: str = "host"  # "host" | "none"
    extra_hosts: tuple[tuple[str, str], ...] = ()
    """(host, ip) lines /etc/hosts gets after localhost's (--add-host)."""
    platform: Platform | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers but keep the value immutable and hashable.
        for name in ("argv", "env", "extra_gids", "mounts", "extra_hosts"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "root", Path(self.root))
