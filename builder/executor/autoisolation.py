"""--isolation auto for a whole build, where one choice must hold for all of it: in
multiarch's own image inside a container that permits no namespaces, the build root is the
container's own "/" (container-root, kaniko's model: steps get the container's real /proc,
/dev, network and DNS). Everywhere else the sandbox picks per process at the first RUN
(namespace, then proot, then chroot) and says which."""

from __future__ import annotations

import logging

from builder.errors import UsageError
from builder.executor.containerroot import check_container_root
from builder.sandbox.isolation import probe

log = logging.getLogger(__name__)


def resolve_build_isolation(requested: str) -> str:
    """"container-root" when auto should be it here, else `requested` unchanged."""
    if requested != "auto":
        return requested
    try:
        check_container_root(force=False)
    except UsageError:  # not the bundle, or not a throw-away container
        return requested
    namespace = probe().namespace
    if namespace is None:
        return requested
    log.info(
        "isolation auto: using container-root (no namespaces (%s); multiarch's own image in a "
        "container: steps run in its root with its /proc, /dev and network)",
        namespace,
    )
    return "container-root"
