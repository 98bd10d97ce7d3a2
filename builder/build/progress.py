"""Build progress through one small interface, rendered as BuildKit's plain lines.

A step is a "vertex": `start(name)` returns its number, `log(n, line)` adds output,
`done(n, cached=...)` / `error(n, message)` close it. `PlainProgress` writes what
`docker buildx build --progress=plain` prints:

    #3 [build 2/5] RUN make
    #3 0.412 compiling...
    #3 DONE 4.2s
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO

from builder.log import redact


class Progress(Protocol):
    def start(self, name: str) -> int: ...

    def log(self, vertex: int, line: str) -> None: ...

    def done(self, vertex: int, *, cached: bool = False) -> None: ...

    def error(self, vertex: int, message: str) -> None: ...


class PlainProgress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._next = 1
        self._started: dict[int, float] = {}

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(redact(text) + "\n")
            stream.flush()

    def start(self, name: str) -> int:
        with self._lock:
            vertex = self._next
            self._next += 1
            self._started[vertex] = time.monotonic()
        self._write(f"#{vertex} {name}")
        return vertex

    def log(self, vertex: int, line: str) -> None:
        elapsed = time.monotonic() - self._started.get(vertex, time.monotonic())
        self._write(f"#{vertex} {elapsed:.3f} {line.rstrip()}")

    def done(self, vertex: int, *, cached: bool = False) -> None:
        if cached:
            self._write(f"#{vertex} CACHED")
            return
        elapsed = time.monotonic() - self._started.get(vertex, time.monotonic())
        self._write(f"#{vertex} DONE {elapsed:.1f}s")

    def error(self, vertex: int, message: str) -> None:
        self._write(f"#{vertex} ERROR: {message}")


class QuietProgress:
    """Records nothing and prints nothing (`--progress quiet`, library use)."""

    def start(self, name: str) -> int:
        return 0

    def log(self, vertex: int, line: str) -> None:
        pass

    def done(self, vertex: int, *, cached: bool = False) -> None:
        pass

    def error(self, vertex: int, message: str) -> None:
        pass
