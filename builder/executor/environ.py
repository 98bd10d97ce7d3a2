"""Credentials out of the builder's /proc/self/environ.

Python copies the environment at start, so os.environ keeps working; but the kernel shows
the original block in /proc/PID/environ, where a RUN step that shares the container's /proc
(container-root and proot isolation) could read it. After the logins are read, the values of
the credential variables are overwritten in that block (this process's own memory, through
/proc/self/mem).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# GitLab's and Docker's login variables (builder.registry.credentials reads them).
CREDENTIAL_VARIABLES = frozenset({
    "CI_REGISTRY_PASSWORD", "CI_JOB_TOKEN", "CI_DEPENDENCY_PROXY_PASSWORD", "CI_BUILD_TOKEN",
    "DOCKER_AUTH_CONFIG", "REGISTRY_AUTH_FILE",
})  # fmt: skip
_ENV_START, _ENV_END = 47, 48  # /proc/PID/stat fields 50 and 51, counted after "comm)"


def blank_values(block: bytes, names: Iterable[str]) -> bytes:
    """`block` (NUL-separated NAME=VALUE entries) with the values of `names` as '*'s."""
    wanted = {name.encode() for name in names}
    out = bytearray(block)
    pos = 0
    for entry in block.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and name in wanted:
            start = pos + len(name) + 1
            out[start:start + len(value)] = b"*" * len(value)
        pos += len(entry) + 1
    return bytes(out)


def hide_from_proc_environ(names: Iterable[str] = CREDENTIAL_VARIABLES) -> bool:
    """Blank `names` in this process's /proc/self/environ; False where the kernel refuses."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[_ENV_START]), int(fields[_ENV_END])
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            block = mem.read(end - start)
            blanked = blank_values(block, names)
            if blanked != block:
                mem.seek(start)
                mem.write(blanked)
    except (OSError, ValueError, IndexError) as err:
        log.debug("cannot hide credentials in /proc/self/environ: %s", err)
        return False
    return True
