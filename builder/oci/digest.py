"""sha256 digests: computing, validating and verifying them while streaming."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO, Iterable, Iterator

from builder.errors import DigestMismatchError

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_digest(value: str) -> bool:
    return bool(DIGEST_RE.match(value))


def check_digest(value: str) -> str:
    """Return `value` if it is a sha256 digest we support, else raise."""
    if not is_digest(value):
        raise DigestMismatchError(f"unsupported or malformed digest {value!r}")
    return value


def hex_of(digest: str) -> str:
    return check_digest(digest).split(":", 1)[1]


def file_digest(f: BinaryIO) -> tuple[str, int]:
    """Digest and size of a whole file object, read in chunks."""
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


class VerifyingReader:
    """Wraps a stream of chunks and raises at the end if the digest or size is wrong.

    Used for every blob and manifest we fetch, so nothing unverified is ever accepted.
    """

    def __init__(self, chunks: Iterable[bytes], digest: str, size: int | None, what: str) -> None:
        self._chunks = chunks
        self._digest = check_digest(digest)
        self._size = size
        self._what = what
        self._hash = hashlib.sha256()
        self.read_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.read_bytes += len(chunk)
            if self._size is not None and self.read_bytes > self._size:
                raise DigestMismatchError(
                    f"{self._what}: more than the declared {self._size} bytes received"
                )
            self._hash.update(chunk)
            yield chunk
        got = "sha256:" + self._hash.hexdigest()
        if got != self._digest:
            raise DigestMismatchError(
                f"{self._what}: content has digest {got}, expected {self._digest}"
            )
        if self._size is not None and self.read_bytes != self._size:
            raise DigestMismatchError(
                f"{self._what}: received {self.read_bytes} bytes, expected {self._size}"
            )
