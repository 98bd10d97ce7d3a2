"""`RUN --mount=...` options, parsed as BuildKit does (CSV fields, per-type defaults)."""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from builder.dockerfile.flags import FlagError, parse_bool


class MountType(Enum):
    BIND = "bind"
    CACHE = "cache"
    TMPFS = "tmpfs"
    SECRET = "secret"
    SSH = "ssh"


class CacheSharing(Enum):
    SHARED = "shared"
    PRIVATE = "private"
    LOCKED = "locked"


@dataclass(frozen=True)
class Mount:
    type: MountType
    target: str
    source: str | None = None
    from_: str | None = None  # stage name/index or image, for bind and cache
    readonly: bool = False
    id: str | None = None  # cache id, secret id, ssh id
    sharing: CacheSharing = CacheSharing.SHARED
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None  # tmpfs bytes
    env: str | None = None  # secret exposed as an environment variable


_KEY_ALIASES = {
    "src": "source",
    "dst": "target",
    "destination": "target",
    "ro": "readonly",
    "rw": "readwrite",
}
_KEYS = frozenset(
    {"type", "from", "source", "target", "readonly", "readwrite", "id", "sharing",
     "required", "mode", "uid", "gid", "size", "env"}
)
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)


def parse_mount(text: str, expand: Callable[[str], str] | None = None) -> Mount:
    """One `--mount` value; `expand` (if given) is applied to every option value."""
    try:
        fields = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        raise FlagError(f"invalid mount {text!r}") from None
    values: dict[str, str] = {}
    flags: set[str] = set()
    for field in fields:
        key, has_value, value = field.strip().partition("=")
        key = _KEY_ALIASES.get(key.lower(), key.lower())
        if key not in _KEYS:
            raise FlagError(
                f"unexpected key {key!r} in {field!r}",
                "mount options: " + ", ".join(sorted(_KEYS)),
            )
        if not has_value:
            if key not in ("readonly", "readwrite", "required"):
                raise FlagError(f"invalid field {field!r} must be a key=value pair")
            flags.add(key)
            continue
        values[key] = expand(value) if expand is not None else value
    return _build(values, flags, text)


def _build(values: dict[str, str], flags: set[str], text: str) -> Mount:
    try:
        mount_type = MountType(values.get("type", "bind").lower())
    except ValueError:
        raise FlagError(
            f"unsupported mount type {values['type']!r}", "use bind, cache, tmpfs, secret or ssh"
        ) from None
    readonly = mount_type is MountType.BIND
    if "readonly" in flags:
        readonly = True
    if "readonly" in values:
        readonly = parse_bool(values["readonly"])
    if "readwrite" in flags:
        readonly = False
    if "readwrite" in values:
        readonly = not parse_bool(values["readwrite"])
    required = "required" in flags or parse_bool(values.get("required", "false"))
    target = values.get("target", "")
    mount_id = values.get("id")
    if mount_type is MountType.SECRET:
        if not mount_id and not target and "env" not in values:
            raise FlagError(f"secret mount {text!r} needs an id or a target")
        mount_id = mount_id or posixpath.basename(target)
        if not target and "env" not in values:
            target = "/run/secrets/" + mount_id
    elif mount_type is MountType.SSH:
        mount_id = mount_id or "default"
    elif not target:
        raise FlagError(f"mount {text!r} has no target", "add target=/path")
    elif mount_type is MountType.CACHE:
        mount_id = mount_id or target
    try:
        sharing = CacheSharing(values.get("sharing", "shared").lower())
    except ValueError:
        raise FlagError(
            f"unsupported sharing value {values['sharing']!r}", "use shared, private or locked"
        ) from None
    default_mode = {MountType.SECRET: 0o400, MountType.SSH: 0o600}.get(mount_type)
    return Mount(
        type=mount_type,
        target=target,
        source=values.get("source"),
        from_=values.get("from"),
        readonly=readonly,
        id=mount_id,
        sharing=sharing,
        required=required,
        mode=_int(values, "mode", 8) if "mode" in values else default_mode,
        uid=_int(values, "uid", 10),
        gid=_int(values, "gid", 10),
        size=_size(values["size"]) if "size" in values else None,
        env=values.get("env"),
    )


def _int(values: dict[str, str], key: str, base: int) -> int | None:
    if key not in values:
        return None
    try:
        return int(values[key], base)
    except ValueError:
        raise FlagError(f"invalid {key} value {values[key]!r}") from None


def _size(text: str) -> int:
    match = _SIZE.match(text.strip())
    if not match:
        raise FlagError(f"invalid size {text!r}", "e.g. size=64m")
    power = " kmgtp".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**power)
