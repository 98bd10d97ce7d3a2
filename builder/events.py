"""Build progress as structured events: one small model that every consumer reads.

A build reports what happens as events passed to a callback (`EventSink`): steps starting,
printing output and finishing (with their cache outcome), blobs pushed, and — for
`multiarch build` — platforms starting and finishing. The command line's plain, tty and
json progress are consumers of these events (builder.renderers); library users pass their
own callback. Text in events (step names, output lines, messages) is redacted at the source,
so a registered secret never reaches a consumer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal

__all__ = [
    "BlobPushed", "CacheOutcome", "Event", "EventSink", "PlatformFailed", "PlatformFinished",
    "PlatformStarted", "StepFailed", "StepFinished", "StepOutput", "StepStarted", "discard",
    "event_from_json", "event_json",
]  # fmt: skip

CacheOutcome = Literal["hit", "miss"]


@dataclass(frozen=True, kw_only=True)
class _Event:
    kind: ClassVar[str]
    time: float = field(default_factory=time.time)
    """Seconds since the epoch when the event happened."""


@dataclass(frozen=True, kw_only=True)
class StepStarted(_Event):
    """A build step (FROM, RUN, COPY, ..., exporting) began; `vertex` numbers it in its build."""

    kind: ClassVar[str] = "step.started"
    platform: str
    vertex: int
    name: str


@dataclass(frozen=True, kw_only=True)
class StepOutput(_Event):
    """One line a RUN step printed."""

    kind: ClassVar[str] = "step.output"
    platform: str
    vertex: int
    line: str


@dataclass(frozen=True, kw_only=True)
class StepFinished(_Event):
    kind: ClassVar[str] = "step.finished"
    platform: str
    vertex: int
    duration_s: float
    cache: CacheOutcome | None = None
    """hit: the layer came from the cache; miss: looked up and built; None: not cached."""


@dataclass(frozen=True, kw_only=True)
class StepFailed(_Event):
    kind: ClassVar[str] = "step.failed"
    platform: str
    vertex: int
    message: str


@dataclass(frozen=True, kw_only=True)
class BlobPushed(_Event):
    """A blob the destination lacked: uploaded (`size` bytes sent) or mounted (none sent)."""

    kind: ClassVar[str] = "blob.pushed"
    destination: str
    digest: str
    size: int
    mounted: bool = False


@dataclass(frozen=True, kw_only=True)
class PlatformStarted(_Event):
    kind: ClassVar[str] = "platform.started"
    platform: str
    runner: str


@dataclass(frozen=True, kw_only=True)
class PlatformFinished(_Event):
    kind: ClassVar[str] = "platform.finished"
    platform: str
    digest: str
    duration_s: float
    size: int | None = None
    """Bytes of the image's config and layers."""


@dataclass(frozen=True, kw_only=True)
class PlatformFailed(_Event):
    kind: ClassVar[str] = "platform.failed"
    platform: str
    message: str


Event = (
    StepStarted | StepOutput | StepFinished | StepFailed | BlobPushed
    | PlatformStarted | PlatformFinished | PlatformFailed
)  # fmt: skip
EventSink = Callable[[Event], None]


_KINDS: dict[str, Callable[..., Event]] = {
    cls.kind: cls
    for cls in (StepStarted, StepOutput, StepFinished, StepFailed, BlobPushed,
                PlatformStarted, PlatformFinished, PlatformFailed)
}  # fmt: skip


def event_json(event: Event) -> str:
    """The event as one JSON line: `{"event": KIND, "time": ..., field: value, ...}`."""
    return json.dumps({"event": event.kind, **asdict(event)}, separators=(",", ":"))


def event_from_json(line: str) -> Event | None:
    """The event an `event_json` line describes (a remote build's progress); None for any
    other line (log records, an `error:` line, garbage)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    make = _KINDS.get(str(data.pop("event", "")))
    if make is None:
        return None
    try:
        return make(**data)
    except TypeError:  # fields of another version: not an event we can pass on
        return None


def discard(event: Event) -> None:
    """The sink that ignores every event (quiet builds)."""
