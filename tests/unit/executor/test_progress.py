"""Step reports become events; the plain renderer prints them as BuildKit's plain lines,
the json renderer as one JSON object per line; secrets are redacted before any consumer."""

from __future__ import annotations

import io
import json
import re

from builder.events import BlobPushed, Event
from builder.executor.progress import Progress
from builder.log import register_secret
from builder.renderers import JsonRenderer, PlainRenderer

SECRET = "hunter2-secret-value"


def _steps(progress: Progress) -> None:
    register_secret(SECRET)
    first = progress.start("[build 1/2] RUN make")
    progress.log(first, f"token {SECRET}")
    progress.done(first, cache="miss")
    second = progress.start("[build 2/2] COPY . /")
    progress.done(second, cache="hit")
    third = progress.start("[3/3] RUN false")
    progress.error(third, f"exit code: 1 ({SECRET})")
    progress.emit(BlobPushed(destination="docker://r/x:1", digest="sha256:ab", size=3))


def test_plain_lines() -> None:
    out = io.StringIO()
    _steps(Progress(PlainRenderer(out), "linux/amd64"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "#1 [build 1/2] RUN make"
    assert re.fullmatch(r"#1 \d+\.\d{3} token \*\*\*", lines[1])
    assert re.fullmatch(r"#1 DONE \d+\.\ds", lines[2])
    assert lines[3:] == [
        "#2 [build 2/2] COPY . /", "#2 CACHED",
        "#3 [3/3] RUN false", "#3 ERROR: exit code: 1 (***)",
    ]  # fmt: skip


def test_events_are_redacted_before_any_consumer() -> None:
    seen: list[Event] = []
    _steps(Progress(seen.append, "linux/arm64"))
    assert [e.kind for e in seen] == [
        "step.started", "step.output", "step.finished", "step.started", "step.finished",
        "step.started", "step.failed", "blob.pushed",
    ]  # fmt: skip
    assert SECRET not in repr(seen)
    assert all(getattr(e, "platform", "linux/arm64") == "linux/arm64" for e in seen)


def test_json_lines() -> None:
    out = io.StringIO()
    _steps(Progress(JsonRenderer(out), "linux/arm64"))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["event"] == "step.started"
    assert records[0]["name"] == "[build 1/2] RUN make"
    assert records[0]["platform"] == "linux/arm64"
    assert {r["cache"] for r in records if r["event"] == "step.finished"} == {"hit", "miss"}
    assert records[-1] == {**records[-1], "event": "blob.pushed", "size": 3, "mounted": False}
    assert SECRET not in out.getvalue()
