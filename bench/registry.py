"""A throwaway registry on loopback (Debian's docker-registry) behind a byte-counting proxy.

Every client talks to the proxy, so `bytes_up` is what clients really sent (blob uploads that
the registry dedups still count; blobs skipped by HEAD or mounted do not) and `bytes_down`
what they fetched. The proxy relays with splice(2), so it costs next to no CPU even for
512 MiB pushes.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20
_ACCESS_LINE = re.compile(rb'"(?:GET|HEAD|PUT|POST|PATCH|DELETE) /v2/')


@dataclass(frozen=True)
class Traffic:
    up: int
    down: int
    requests: int = 0

    def __sub__(self, other: Traffic) -> Traffic:
        return Traffic(self.up - other.up, self.down - other.down, self.requests - other.requests)


class CountingProxy:
    def __init__(self, target: Path) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._up = 0
        self._down = 0
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def traffic(self) -> Traffic:
        with self._lock:
            return Traffic(self._up, self._down)

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(str(self.target))
            except OSError:  # the registry is gone: fail this client, keep serving
                upstream.close()
                client.close()
                continue
            for src, dst, upward in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, upward), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        pipe_r, pipe_w = os.pipe()
        try:
            while True:
                n = os.splice(src.fileno(), pipe_w, _CHUNK)
                if n == 0:
                    break
                left = n
                while left:
                    left -= os.splice(pipe_r, dst.fileno(), left)
                with self._lock:
                    if upward:
                        self._up += n
                    else:
                        self._down += n
        except OSError:
            pass
        finally:
            os.close(pipe_r)
            os.close(pipe_w)
            for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    sock.shutdown(how)
                except OSError:
                    pass


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(str(path))
        s.sendall(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
        return s.recv(64).split(b" ")[1:2] == [b"200"]


class LocalRegistry:
    """docker-registry with storage in `root`; use `.host` (the proxy on 127.0.0.1) everywhere.

    The registry itself listens on a unix socket: a TCP port picked by a "free port" probe
    can be taken by another process before docker-registry binds it, and then our clients
    would silently talk to someone else's registry.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.storage = root / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.socket = root / "registry.sock"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}},"
            " maintenance: {uploadpurging: {enabled: false}}}\n"
            f"http: {{net: unix, addr: '{self.socket}'}}\n"
        )
        self._log = open(root / "registry.log", "ab")
        self._proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._log_seen = 0
        self._requests = 0
        self.proxy = CountingProxy(self.socket)
        self.host = f"127.0.0.1:{self.proxy.port}"
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited; see {self.root / 'registry.log'}")
            try:
                if _answers(self.socket):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("docker-registry did not answer in time")
            time.sleep(0.05)

    def traffic(self) -> Traffic:
        """Bytes through the proxy; requests from the registry's access log (one line each,
        written as each response completes)."""
        sent = self.proxy.traffic()
        return Traffic(sent.up, sent.down, self._count_requests())

    def _count_requests(self) -> int:
        with open(self.root / "registry.log", "rb") as log:
            log.seek(self._log_seen)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._log_seen += len(complete)
        self._requests += len(_ACCESS_LINE.findall(complete))
        return self._requests

    def stop(self) -> None:
        self.proxy.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
