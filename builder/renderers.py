"""The command line's progress output: consumers of builder.events.

`plain` prints what `docker buildx build --progress=plain` prints:

    #3 [build 2/5] RUN make
    #3 0.412 compiling...
    #3 DONE 4.2s

`tty` is a live view on a terminal (rich, imported only when used); `json` prints every event
as one JSON line (like buildx's `--progress=rawjson`); `quiet` prints nothing. All of them
write to stderr, so stdout stays free for `--json-result -` and `Digest: ...`.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

from builder.events import (
    Event,
    StepFailed,
    StepFinished,
    StepOutput,
    StepStarted,
    event_json,
)

if TYPE_CHECKING:  # rich costs start-up time; only the tty renderer loads it
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

_Key = tuple[str, int]  # (platform, vertex)


class Renderer:
    """An event sink that writes to a stream; `close()` when the build is over."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        text = self.render(event)
        if text is None:
            return
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(text + "\n")
            stream.flush()

    def render(self, event: Event) -> str | None:
        return None

    def close(self) -> None:
        pass


class JsonRenderer(Renderer):
    def render(self, event: Event) -> str | None:
        return event_json(event)


class PlainRenderer(Renderer):
    """With `platforms`, the steps of several builds at once are told apart as buildx does:
    one numbering for all of them, the platform in each step's name (`[linux/arm64 2/3]`)."""

    def __init__(self, stream: TextIO | None = None, *, platforms: bool = False) -> None:
        super().__init__(stream)
        self._platforms = platforms
        self._started: dict[_Key, float] = {}
        self._numbers: dict[_Key, int] = {}

    def _number(self, key: _Key) -> int:
        if not self._platforms:
            return key[1]
        return self._numbers.setdefault(key, len(self._numbers) + 1)

    def render(self, event: Event) -> str | None:
        if not isinstance(event, StepStarted | StepOutput | StepFinished | StepFailed):
            return None
        key = (event.platform, event.vertex)
        number = self._number(key)
        if isinstance(event, StepStarted):
            self._started[key] = event.time
            name = event.name
            if self._platforms:
                name = f"[{event.platform} {name[1:]}" if name.startswith("[") else name
            return f"#{number} {name}"
        if isinstance(event, StepOutput):
            started = self._started.get(key, event.time)
            return f"#{number} {event.time - started:.3f} {event.line}"
        if isinstance(event, StepFinished):
            if event.cache == "hit":
                return f"#{number} CACHED"
            return f"#{number} DONE {event.duration_s:.1f}s"
        return f"#{number} ERROR: {event.message}"


class TtyRenderer(Renderer):
    """One line per step with its state and time, and the last output line of running steps."""

    _MARKS = {"run": "[yellow]…[/]", "done": "[green]✔[/]", "cached": "[blue]CACHED[/]",
              "error": "[red]✘[/]"}  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console  # rich loads only for a terminal view (start-up)
        from rich.live import Live

        self._rows: dict[_Key, _Row] = {}
        self._console: Console = Console(stderr=True)
        self._live: Live = Live(console=self._console, refresh_per_second=8, transient=False,
                                get_renderable=self._table)  # fmt: skip
        self._live.start()

    def _table(self) -> Table:
        from rich.markup import escape
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        with self._lock:
            rows = list(self._rows.items())
        for (_, vertex), row in rows:
            table.add_row(
                f"#{vertex}", self._MARKS[row.state], escape(row.name), f"{row.elapsed():.1f}s"
            )
            if row.state == "run" and row.last:
                table.add_row("", "", f"[dim]{escape(row.last[:120])}[/]", "")
        return table

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            with self._lock:
                self._rows[(event.platform, event.vertex)] = _Row(event.name)
            return
        if not isinstance(event, StepOutput | StepFinished | StepFailed):
            return
        with self._lock:
            row = self._rows.get((event.platform, event.vertex))
            if row is None:
                return
            if isinstance(event, StepOutput):
                row.last = event.line
            elif isinstance(event, StepFinished):
                row.finish("cached" if event.cache == "hit" else "done")
            else:
                row.finish("error")
        if isinstance(event, StepFailed):
            self._live.stop()
            from rich.markup import escape

            self._console.print(f"[red]#{event.vertex} ERROR:[/] {escape(event.message)}")

    def close(self) -> None:
        self._live.stop()


class _Row:
    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()
        self.state = "run"
        self.last = ""
        self.duration: float | None = None

    def finish(self, state: str) -> None:
        self.state = state
        self.duration = time.monotonic() - self.started

    def elapsed(self) -> float:
        return self.duration if self.duration is not None else time.monotonic() - self.started


def make_renderer(mode: str) -> Renderer:
    """`--progress auto|plain|tty|json|quiet`; auto is tty on a terminal, else plain."""
    if mode == "quiet":
        return Renderer()
    if mode == "json":
        return JsonRenderer()
    if mode == "tty" or (mode == "auto" and sys.stderr.isatty()):
        return TtyRenderer()
    return PlainRenderer()
