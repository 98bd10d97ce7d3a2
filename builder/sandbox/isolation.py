"""Which isolation modes work here, found once by trying them in a worker of the helper."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from dataclasses import dataclass

from builder.errors import SandboxError
from builder.sandbox import server
from builder.sandbox.spec import Isolation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    """None when a mode works, else why not."""

    namespace: str | None
    chroot: str | None
    mount: str | None = None  # a tmpfs in a new mount namespace
    mknod: str | None = None  # a device node


@functools.cache
def probe() -> Capabilities:
    # Each end is closed exactly once: the probe runs on a thread beside others that open
    # files, and closing an fd number twice could close one of theirs.
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as status:
        try:
            server.submit("probe", (write_fd,))
        finally:
            os.close(write_fd)
        report = status.read()
    if not report:
        raise SandboxError("the sandbox helper ended without a result")
    found = json.loads(report)["probe"]
    return Capabilities(namespace=found["namespace"], chroot=found["chroot"],
                        mount=found["mount"], mknod=found["mknod"])


_NAMESPACE_HINT = (
    "namespace isolation needs root with CAP_SYS_ADMIN (a VM, a bare host or a privileged "
    "container); pass --isolation chroot (needs CAP_SYS_CHROOT)"
)
_PROOT_HINT = (
    "proot isolation needs PRoot (apt-get install proot) and CAP_SYS_CHROOT (to prepare the "
    "working directory); --isolation chroot runs steps without /proc and /dev"
)
_CHROOT_HINT = "chroot isolation needs CAP_SYS_CHROOT: run the container with it (or privileged)"


def resolve_isolation(requested: Isolation | str) -> Isolation:
    """The concrete mode to use: `requested` if it works here, or for auto the strongest one:
    namespace (a root VM or a privileged container), else proot (an unprivileged container:
    the steps still get /proc, /dev and /sys), else chroot (steps without /proc, and with
    device nodes in /dev only where mknod is permitted: one warning line says which).

    Raises SandboxError saying why a requested mode is impossible and what to pass instead.
    Decide before preparing the root: `none` runs steps in "/" itself.
    """
    mode = Isolation(requested)
    if mode is Isolation.CONTAINER_ROOT:
        return mode
    caps = probe()
    if mode is Isolation.NAMESPACE and caps.namespace:
        raise SandboxError(
            f"--isolation namespace is not possible here ({caps.namespace})", hint=_NAMESPACE_HINT
        )
    if mode is Isolation.CHROOT and caps.chroot:
        raise SandboxError(
            f"--isolation chroot is not possible here ({caps.chroot})", hint=_CHROOT_HINT
        )
    if mode is Isolation.PROOT and (caps.chroot or shutil.which("proot") is None):
        raise SandboxError(
            f"--isolation proot is not possible here ({caps.chroot or 'no proot on PATH'})",
            hint=_PROOT_HINT,
        )
    if mode is Isolation.CHROOT:
        _warn_chroot_limits(caps)
    if mode is not Isolation.AUTO:
        return mode
    if caps.namespace is None:
        picked, why = Isolation.NAMESPACE, "namespaces and mounts are permitted"
    elif caps.chroot is None and shutil.which("proot"):
        picked, why = Isolation.PROOT, (
            f"no namespaces ({caps.namespace}); PRoot gives steps /proc, /dev and /sys"
        )
    elif caps.chroot is None:
        picked, why = Isolation.CHROOT, f"no namespaces ({caps.namespace}) and no PRoot"
    else:
        # `none` would need the build root to be "/" itself, which the executor refuses.
        raise SandboxError(
            f"no isolation works here: no namespaces ({caps.namespace}) and no {caps.chroot}",
            hint=_CHROOT_HINT,
        )
    _announce(picked, why)
    if picked is Isolation.CHROOT:
        _warn_chroot_limits(caps)
    return picked


def chroot_mounts(caps: Capabilities) -> bool:
    """Whether chroot mode can give a step /proc and a minimal /dev by mounting."""
    return caps.mount is None


@functools.cache
def _warn_chroot_limits(caps: Capabilities) -> None:
    """One line per process: what chroot mode's steps lack here, and why."""
    if chroot_mounts(caps):
        return
    missing = [f"no /proc ({caps.mount})"]
    if caps.mknod:
        missing.append(f"no device nodes in /dev ({caps.mknod})")
    log.warning("warning: --isolation chroot: RUN steps get %s", " and ".join(missing))


@functools.cache
def _announce(picked: Isolation, why: str) -> None:
    """Once per process, not at every RUN step."""
    log.info("isolation auto: using %s (%s)", picked.value, why)
