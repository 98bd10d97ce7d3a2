"""`multiarch build`'s output is a consumer of the build events: platform lines, each
platform's steps as plain lines, the summary table from what the events said; json mode
prints every event as one JSON line and nothing else."""

from __future__ import annotations

import json

import pytest

from builder.events import (
    Event,
    PlatformFailed,
    PlatformFinished,
    PlatformStarted,
    StepFinished,
    StepStarted,
)
from multiarch.progress import Reporter

EVENTS: list[Event] = [
    PlatformStarted(platform="linux/amd64", runner="local (native)"),
    PlatformStarted(platform="linux/arm64", runner="local (QEMU)"),
    StepStarted(platform="linux/amd64", vertex=1, name="[1/2] FROM busybox"),
    StepStarted(platform="linux/arm64", vertex=1, name="[1/2] FROM busybox"),
    StepFinished(platform="linux/arm64", vertex=1, duration_s=0.25),
    PlatformFinished(platform="linux/amd64", digest="sha256:" + "a" * 64, duration_s=1.5,
                     size=2048),  # fmt: skip
    PlatformFailed(platform="linux/arm64", message="RUN exited 1"),
]


def test_plain_lines_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter("plain")
    for event in EVENTS:
        reporter(event)
    reporter.summary()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[:7] == [
        "[linux/amd64] building (local (native))",
        "[linux/arm64] building (local (QEMU))",
        "#1 [linux/amd64 1/2] FROM busybox",  # one numbering for both builds, as buildx
        "#2 [linux/arm64 1/2] FROM busybox",
        "#2 DONE 0.2s",
        f"[linux/amd64] DONE 1.5s sha256:{'a' * 64}",
        "[linux/arm64] FAILED: RUN exited 1",
    ]
    table = "\n".join(lines[7:])
    assert "linux/amd64" in table and "ok" in table and "2.0 KiB" in table
    assert "linux/arm64" in table and "failed" in table


def test_json_mode_prints_only_events(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter("json")
    for event in EVENTS:
        reporter(event)
    reporter.summary()
    reporter.line("not an event")
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["event"] for r in records] == [
        "platform.started", "platform.started", "step.started", "step.started", "step.finished",
        "platform.finished", "platform.failed",
    ]  # fmt: skip
    assert records[5]["size"] == 2048
