"""How `multiarch build` shows its events: platform lines (rich on a TTY, plain in CI), each
platform's steps as BuildKit's plain lines, and a summary table at the end; or, with
`--progress json`, every event as one JSON line. Everything goes to stderr.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from builder.events import Event, PlatformFailed, PlatformFinished, PlatformStarted
from builder.log import redact
from builder.renderers import PlainRenderer, Renderer, make_renderer
from multiarch.inspect_view import human_size

if TYPE_CHECKING:  # rich loads only for a terminal or the summary (start-up time)
    from rich.console import Console


@dataclass(frozen=True)
class SummaryRow:
    platform: str
    runner: str
    status: str
    duration_s: float | None = None
    digest: str | None = None
    size: int | None = None


class Reporter:
    """An event sink for `multiarch build`'s command line."""

    def __init__(self, mode: str = "auto") -> None:
        """`mode`: auto, plain, tty, json or quiet (`--progress`)."""
        self.rich = mode == "tty" or (mode == "auto" and sys.stderr.isatty())
        self.silent = mode in ("quiet", "json")
        self._steps: Renderer = (
            make_renderer(mode) if self.silent else PlainRenderer(platforms=True)
        )
        self._lock = threading.Lock()
        self._console: Console | None = None
        self._rows: dict[str, SummaryRow] = {}
        if self.rich:
            # Lazy: rich (~30 ms) is only needed on a terminal; CI logs get plain lines.
            from rich.console import Console

            self._console = Console(stderr=True)

    def __call__(self, event: Event) -> None:
        if not isinstance(event, PlatformStarted | PlatformFinished | PlatformFailed):
            self._steps(event)
            return
        self._record(event)
        if self.silent:
            self._steps(event)
        elif isinstance(event, PlatformStarted):
            self.line(f"[{event.platform}] building ({event.runner})", "bold")
        elif isinstance(event, PlatformFinished):
            self.line(f"[{event.platform}] DONE {event.duration_s:.1f}s {event.digest}", "green")
        else:
            self.line(f"[{event.platform}] FAILED: {event.message}", "bold red")

    def _record(self, event: PlatformStarted | PlatformFinished | PlatformFailed) -> None:
        with self._lock:
            if isinstance(event, PlatformStarted):
                self._rows[event.platform] = SummaryRow(event.platform, event.runner, "running")
                return
            row = self._rows.get(event.platform, SummaryRow(event.platform, "-", "running"))
            if isinstance(event, PlatformFinished):
                self._rows[event.platform] = replace(
                    row, status="ok", duration_s=event.duration_s, digest=event.digest,
                    size=event.size,
                )  # fmt: skip
            else:
                self._rows[event.platform] = replace(row, status="failed")

    def line(self, text: str, style: str = "") -> None:
        if self.silent:
            return
        text = redact(text)
        with self._lock:
            if self._console is not None:
                self._console.print(text, style=style or None, markup=False, highlight=False)
            else:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()

    def summary(self) -> None:
        """A table of the platforms seen, in the order they started."""
        with self._lock:
            rows = list(self._rows.values())
        if self.silent or not rows:
            return
        # Lazy: rich (~30 ms) is only needed on a terminal; CI logs get plain lines.
        from rich.console import Console
        from rich.table import Table

        table = Table("platform", "runner", "status", "duration", "digest", "size")
        table.columns[4].overflow = "fold"
        for row in rows:
            table.add_row(
                row.platform,
                row.runner,
                row.status,
                f"{row.duration_s:.1f}s" if row.duration_s is not None else "-",
                row.digest or "-",
                human_size(row.size) if row.size is not None else "-",
            )
        console = self._console or Console(stderr=True, width=250)
        with self._lock:
            console.print(table)
