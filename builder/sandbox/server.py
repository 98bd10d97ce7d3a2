"""One sandbox helper per builder process, started once and asked to fork a worker per request.

Starting a Python interpreter costs more than most RUN steps do (25-70 ms on 2 cores, the
step itself often a few ms), so the helper (`python -I -S helper.py serve FD`) starts once,
at the isolation probe or the first RUN, and stays. Each request is one datagram on a
SOCK_SEQPACKET socket pair: the request kind and the pipe ends the worker uses
(SCM_RIGHTS), so threads of the builder can send at once and every step keeps its own
output and status pipes. The helper is single-threaded, so forking it is safe (forking the
builder, which runs thread pools, would not be).

The helper exits when its end of the socket sees EOF, i.e. when this process closes it or
dies, and takes any running workers with it (they kill their step and unmount).

A step's root is an overlay mounted in the builder's mount namespace, which the executor
makes private at the start of a build (mountns.py): the helper must live in the namespace of
the thread asking, so a namespace change (the next build in a long-lived process) replaces it.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from builder.errors import SandboxError

HELPER = Path(__file__).with_name("helper.py")
HELPER_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
_EXIT_WAIT_SECONDS = 5.0


class HelperServer:
    """The connection to this process's helper; started on first use, restarted if gone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner = 0  # the pid that started it: a forked child starts its own
        self._namespace = ""  # the mount namespace it was started in

    def submit(self, kind: str, fds: Sequence[int]) -> None:
        """Ask the helper to fork a worker of `kind` ("run" | "probe") holding `fds`.
        The caller keeps (and closes) its own copies of `fds`."""
        with self._lock:
            for attempt in range(2):
                sock = self._connected()
                try:
                    socket.send_fds(sock, [kind.encode()], list(fds))
                    return
                except OSError as err:  # the helper died (killed from outside): start anew
                    self._close()
                    if attempt:
                        raise SandboxError(f"the sandbox helper is not reachable: {err}") from err

    def close(self) -> None:
        with self._lock:
            self._close()

    def _connected(self) -> socket.socket:
        namespace = _mount_namespace()
        if self._sock is not None and (self._owner, self._namespace) == (os.getpid(), namespace):
            return self._sock
        self._close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # -I -S: no user environment, no site: the helper is standard library only.
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(HELPER), "serve", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=HELPER_ENV,
                cwd="/",  # holds no directory of the caller busy
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's ^C reaches the builder, not the steps
            )
        except OSError as err:
            ours.close()
            raise SandboxError(f"the sandbox helper failed to start: {err}") from err
        finally:
            theirs.close()
        self._sock, self._owner, self._namespace = ours, os.getpid(), namespace
        return ours

    def _close(self) -> None:
        if self._sock is None:
            return
        self._sock.close()
        self._sock = None
        if self._proc is not None and self._owner == os.getpid():
            try:
                self._proc.wait(timeout=_EXIT_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


def _mount_namespace() -> str:
    try:
        return os.readlink("/proc/thread-self/ns/mnt")
    except OSError:
        return ""


_server = HelperServer()
atexit.register(_server.close)


def submit(kind: str, fds: Sequence[int]) -> None:
    _server.submit(kind, fds)
