"""A throwaway docker-registry (Debian's package) on 127.0.0.1, for the demo's --registry."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

CONFIG = """version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalRegistry:
    """`with LocalRegistry(dir) as reg:` — reg.host is "127.0.0.1:PORT"; stopped on exit."""

    def __init__(self, workdir: Path, ready_timeout: float = 20.0) -> None:
        self.workdir = workdir
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "LocalRegistry":
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(CONFIG.format(storage=storage, port=self.port))
        self._process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self._process.returncode}")
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)  # polling a readiness condition, bounded by the deadline
        self.__exit__()
        raise RuntimeError(f"docker-registry not ready on {self.host} after {self.ready_timeout}s")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
