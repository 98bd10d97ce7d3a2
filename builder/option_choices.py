"""The fixed choices of `multiarch executor` flags. Plain enums, no pydantic: the flag
parser needs them before any model is built, and `executor --help` should stay cheap."""

from __future__ import annotations

from enum import Enum


class SnapshotMode(str, Enum):
    FULL = "full"
    REDO = "redo"
    TIME = "time"


class Compression(str, Enum):
    GZIP = "gzip"
    ZSTD = "zstd"


class Isolation(str, Enum):
    AUTO = "auto"
    NAMESPACE = "namespace"
    CHROOT = "chroot"
    PROOT = "proot"
    CONTAINER_ROOT = "container-root"


class Progress(str, Enum):
    AUTO = "auto"
    PLAIN = "plain"
    TTY = "tty"
    JSON = "json"
    QUIET = "quiet"


class Verbosity(str, Enum):
    PANIC = "panic"
    FATAL = "fatal"
    ERROR = "error"
    WARN = "warn"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"


class LogFormat(str, Enum):
    TEXT = "text"
    COLOR = "color"
    JSON = "json"
