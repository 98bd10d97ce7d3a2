"""What the stage executor calls to report its steps; each call becomes a builder.events event.

A step is a "vertex": `start(name)` returns its number, `log(n, line)` adds output,
`done(n, cache=...)` / `error(n, message)` close it; `emit` passes any other event on.
Text is redacted here, before any consumer sees it.
"""

from __future__ import annotations

import threading
import time

from builder.events import (
    CacheOutcome,
    Event,
    EventSink,
    StepFailed,
    StepFinished,
    StepOutput,
    StepStarted,
)
from builder.log import redact


class Progress:
    def __init__(self, sink: EventSink, platform: str) -> None:
        self._sink = sink
        self.platform = platform
        self._lock = threading.Lock()
        self._next = 1
        self._started: dict[int, float] = {}

    def emit(self, event: Event) -> None:
        self._sink(event)

    def start(self, name: str) -> int:
        with self._lock:
            vertex = self._next
            self._next += 1
            self._started[vertex] = time.monotonic()
        self.emit(StepStarted(platform=self.platform, vertex=vertex, name=redact(name)))
        return vertex

    def log(self, vertex: int, line: str) -> None:
        text = redact(line.rstrip())
        self.emit(StepOutput(platform=self.platform, vertex=vertex, line=text))

    def done(self, vertex: int, *, cache: CacheOutcome | None = None) -> None:
        elapsed = time.monotonic() - self._started.get(vertex, time.monotonic())
        self.emit(
            StepFinished(
                platform=self.platform, vertex=vertex, duration_s=round(elapsed, 3), cache=cache
            )
        )

    def error(self, vertex: int, message: str) -> None:
        self.emit(StepFailed(platform=self.platform, vertex=vertex, message=redact(message)))
