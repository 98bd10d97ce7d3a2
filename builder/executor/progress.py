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


class TtyProgress:
    """A live view on a terminal: one line per step with its state and time, and the last
    output line of running steps (rich, imported only when used)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._lock = threading.Lock()
        self._rows: dict[int, list] = {}  # vertex -> [name, started, state, last line]
        self._console = Console(stderr=True)
        self._live = Live(console=self._console, refresh_per_second=8, transient=False,
                          get_renderable=self._render)
        self._live.start()

    def _render(self):  # type: ignore[no-untyped-def]
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        now = time.monotonic()
        with self._lock:
            rows = list(self._rows.items())
        for vertex, (name, started, state, last) in rows:
            elapsed = (state[1] if isinstance(state, tuple) else now - started)
            mark = {"run": "[yellow]…[/]", "done": "[green]✔[/]", "cached": "[blue]CACHED[/]",
                    "error": "[red]✘[/]"}[state[0] if isinstance(state, tuple) else state]
            table.add_row(f"#{vertex}", mark, redact(name), f"{elapsed:.1f}s")
            if state == "run" and last:
                table.add_row("", "", f"[dim]{redact(last)[:120]}[/]", "")
        return table

    def start(self, name: str) -> int:
        with self._lock:
            vertex = len(self._rows) + 1
            self._rows[vertex] = [name, time.monotonic(), "run", ""]
        return vertex

    def log(self, vertex: int, line: str) -> None:
        with self._lock:
            self._rows[vertex][3] = line.rstrip()

    def _finish(self, vertex: int, state: str) -> None:
        with self._lock:
            row = self._rows[vertex]
            row[2] = (state, time.monotonic() - row[1])

    def done(self, vertex: int, *, cached: bool = False) -> None:
        self._finish(vertex, "cached" if cached else "done")

    def error(self, vertex: int, message: str) -> None:
        self._finish(vertex, "error")
        self._live.stop()
        self._console.print(f"[red]#{vertex} ERROR:[/] {redact(message)}")

    def close(self) -> None:
        self._live.stop()


def make_progress(mode: str) -> Progress:
    """`--progress auto|plain|tty|quiet`; auto is tty on a terminal, else plain."""
    if mode == "quiet":
        return QuietProgress()
    if mode == "tty" or (mode == "auto" and sys.stderr.isatty()):
        return TtyProgress()
    return PlainProgress()
