"""Keep the build's mounts (overlay steps, stage views) private to this process, so a
build that is killed never leaves a mount behind on the host: the kernel drops a mount
namespace with its last process."""

from __future__ import annotations

import ctypes
import logging
import os
import threading

log = logging.getLogger(__name__)

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18


def enter_private_mount_namespace() -> bool:
    """Best effort: needs root and a single-threaded process (unshare refuses otherwise)."""
    if os.geteuid() != 0 or threading.active_count() != 1:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        log.debug("unshare(CLONE_NEWNS): %s", os.strerror(ctypes.get_errno()))
        return False
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        log.debug("making / private: %s", os.strerror(ctypes.get_errno()))
    return True
