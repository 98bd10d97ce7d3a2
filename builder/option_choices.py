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


class RunNetwork(str, Enum):
    """RUN steps' network without their own `--network` (buildx's --network)."""

    DEFAULT = "default"
    HOST = "host"
    NONE = "none"


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


class Provenance(str, Enum):
    """`--provenance`: off, or buildx's mode=min / mode=max."""

    OFF = "off"
    MIN = "min"
    MAX = "max"


# Where a signing key comes from when --sign-key is not given; `env://NAME` names a variable
# holding PEM text or a path (cosign's spelling); an encrypted key's passphrase.
SIGN_KEY_ENV = "MULTIARCH_SIGN_KEY"
SIGN_KEY_PASSWORD_ENV = "MULTIARCH_SIGN_KEY_PASSWORD"
ENV_PREFIX = "env://"


class AttestFormat(str, Enum):
    """Where attestations go: OCI referrers (subject), or BuildKit's index entries."""

    OCI = "oci"
    BUILDKIT = "buildkit"


class SbomFormat(str, Enum):
    """`--sbom-format`: SPDX 2.3 JSON (buildx's) or CycloneDX 1.6 JSON."""

    SPDX = "spdx"
    CYCLONEDX = "cyclonedx"


_TRUE_WORDS = ("true", "1", "t", "yes", "on")
_FALSE_WORDS = ("false", "0", "f", "no", "off")


def parse_sbom(text: str) -> bool:
    """buildx's `--sbom` value: true or false (buildx's `generator=IMAGE` runs a scanner
    image; multiarch makes the SBOM itself). Raises ValueError with a one-line reason."""
    value = text.strip().lower()
    if value in _TRUE_WORDS:
        return True
    if value in _FALSE_WORDS:
        return False
    raise ValueError(f"{text!r}: expected true or false")


def parse_provenance(text: str) -> Provenance:
    """buildx's `--provenance` value: true/false, `min`/`max`, or `mode=min|max[,version=v1]`.
    Raises ValueError with a one-line reason."""
    value = text.strip().lower()
    if value in _TRUE_WORDS:
        return Provenance.MIN
    if value in _FALSE_WORDS:
        return Provenance.OFF
    if value in ("min", "max"):
        return Provenance(value)
    mode = Provenance.MIN
    for part in value.split(","):
        key, eq, setting = part.partition("=")
        if key == "mode" and setting in ("min", "max"):
            mode = Provenance(setting)
        elif key == "version" and setting == "v1":
            continue
        elif key == "version":
            raise ValueError(f"{text!r}: only version=v1 (SLSA provenance v1) is written")
        else:
            raise ValueError(
                f"{text!r}: expected true, false, mode=min or mode=max"
            )
        if not eq:
            raise ValueError(f"{text!r}: expected KEY=VALUE parts")
    return mode
