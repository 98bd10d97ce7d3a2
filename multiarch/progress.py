"""How `multiarch build` reports its platform jobs: rich on a TTY, plain lines in CI.

One small interface (`Reporter`) that the coordinator calls; the rendering is decided once
from whether stderr is a terminal (or `--progress`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from builder.log import redact


@dataclass(frozen=True)
class SummaryRow:
    platform: str
    runner: str
    status: str
    duration_s: float | None
    digest: str | None
    size: int | None


class Reporter:
    def __init__(self, mode: str = "auto") -> None:
        self.rich = mode == "tty" or (mode == "auto" and sys.stderr.isatty())
        self.quiet = mode == "quiet"
        self._lock = threading.Lock()
        self._console = None
        if self.rich:
            from rich.console import Console

            self._console = Console(stderr=True)

    def line(self, text: str, style: str = "") -> None:
        if self.quiet:
            return
        text = redact(text)
        with self._lock:
            if self._console is not None:
                self._console.print(text, style=style or None, markup=False, highlight=False)
            else:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()

    def started(self, platform: str, how: str) -> None:
        self.line(f"[{platform}] building ({how})", "bold")

    def finished(self, platform: str, digest: str, seconds: float) -> None:
        self.line(f"[{platform}] DONE {seconds:.1f}s {digest}", "green")

    def failed(self, platform: str, error: str) -> None:
        self.line(f"[{platform}] FAILED: {error}", "bold red")

    def summary(self, rows: Sequence[SummaryRow]) -> None:
        if self.quiet:
            return
        from rich.console import Console
        from rich.table import Table

        from multiarch.inspect_view import human_size

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
