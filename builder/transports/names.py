"""Image location names as skopeo users write them: docker://REF, oci:DIR[:TAG],
docker-archive:FILE[:REF]. A name without a transport prefix is a registry reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from builder.errors import TransportError
from builder.reference import Reference, parse_reference

Kind = Literal["docker", "oci", "docker-archive"]

_OTHER_SKOPEO_TRANSPORTS = (
    "containers-storage:", "dir:", "docker-daemon:", "oci-archive:", "ostree:", "sif:", "tarball:",
)  # fmt: skip
_LAYOUT_NAME_RE = re.compile(r"^[A-Za-z0-9._:@/+-]+$")
_ARCHIVE_INDEX_RE = re.compile(r"^@(\d+)$")


@dataclass(frozen=True)
class Location:
    kind: Kind
    reference: Reference | None = None
    """docker: the image; docker-archive: the RepoTag to write or pick (optional)."""
    path: Path | None = None
    name: str | None = None
    """oci: the ref.name (tag) inside the layout."""
    archive_index: int | None = None
    """docker-archive source: `@N` picks the N-th image of the archive."""

    def __str__(self) -> str:
        if self.kind == "docker":
            return f"docker://{self.reference}"
        suffix = self.name or (self.reference.familiar if self.reference else None)
        if self.archive_index is not None:
            suffix = f"@{self.archive_index}"
        return f"{self.kind}:{self.path}" + (f":{suffix}" if suffix else "")


def parse_location(text: str) -> Location:
    if text.startswith("docker://"):
        return Location("docker", reference=parse_reference(text.removeprefix("docker://")))
    if text.startswith("oci:"):
        path, name = _split_path(text, "oci:")
        if name is not None and not _LAYOUT_NAME_RE.match(name):
            raise TransportError(f"invalid image name {name!r} in {text!r}")
        return Location("oci", path=path, name=name)
    if text.startswith("docker-archive:"):
        path, ref = _split_path(text, "docker-archive:")
        if ref is None:
            return Location("docker-archive", path=path)
        if match := _ARCHIVE_INDEX_RE.match(ref):
            return Location("docker-archive", path=path, archive_index=int(match.group(1)))
        parsed = parse_reference(ref)
        if parsed.digest:
            raise TransportError(
                f"{text!r}: a docker-archive reference cannot contain a digest; use NAME:TAG"
            )
        return Location("docker-archive", path=path, reference=parsed)
    for other in _OTHER_SKOPEO_TRANSPORTS:
        if text.startswith(other):
            raise TransportError(
                f"transport {other.rstrip(':')!r} is not supported",
                hint="use docker://REF, oci:DIR[:TAG] or docker-archive:FILE[:REF]",
            )
    if "://" in text:
        raise TransportError(
            f"unknown transport in {text!r}",
            hint="use docker://REF, oci:DIR[:TAG] or docker-archive:FILE[:REF]",
        )
    return Location("docker", reference=parse_reference(text))


def _split_path(text: str, prefix: str) -> tuple[Path, str | None]:
    # Like skopeo, the first ':' after the path ends it: paths cannot contain ':'.
    rest = text.removeprefix(prefix)
    path, colon, name = rest.partition(":")
    if not path:
        raise TransportError(f"{text!r}: the path is empty", hint=f"write {prefix}PATH[:NAME]")
    if colon and not name:
        raise TransportError(f"{text!r}: the name after ':' is empty")
    return Path(path), (name if colon else None)
