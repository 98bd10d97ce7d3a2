"""Plain progress lines as BuildKit prints them, with secrets redacted."""

from __future__ import annotations

import io
import re

from builder.executor.progress import PlainProgress
from builder.log import register_secret


def test_plain_lines() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)
    register_secret("hunter2-secret-value")
    first = progress.start("[build 1/2] RUN make")
    progress.log(first, "token hunter2-secret-value")
    progress.done(first)
    second = progress.start("[build 2/2] COPY . /")
    progress.done(second, cached=True)
    third = progress.start("[3/3] RUN false")
    progress.error(third, "exit code: 1")
    lines = out.getvalue().splitlines()
    assert lines[0] == "#1 [build 1/2] RUN make"
    assert re.fullmatch(r"#1 \d+\.\d{3} token \*\*\*", lines[1])
    assert re.fullmatch(r"#1 DONE \d+\.\ds", lines[2])
    assert lines[3:] == ["#2 [build 2/2] COPY . /", "#2 CACHED", "#3 [3/3] RUN false", "#3 ERROR: exit code: 1"]
