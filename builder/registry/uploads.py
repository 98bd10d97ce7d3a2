"""Blob uploads: one streaming PUT for small blobs, resumable PATCH chunks for large ones.

A chunked upload that loses its connection (or whose token expires) asks the registry how
much it has (GET on the upload URL, `Range: 0-N`) and continues from there; if the
registry has dropped the session (distribution cancels an upload whose stored size no
longer matches the state it handed out), the upload starts over, within the retry bound.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import BinaryIO

import httpx

from builder.errors import AuthError, DigestMismatchError, RegistryError, TLSError
from builder.oci.models import Descriptor
from builder.registry.connection import HostConnection

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
OpenContent = Callable[[], BinaryIO]


def content_chunks(open_content: OpenContent, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
    """Stream `length` bytes (all, if None) of the content from `offset`, never all at once."""
    with open_content() as f:
        if offset:
            if f.seekable():
                f.seek(offset)
            else:
                _skip(f, offset)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = f.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
    if remaining:
        raise DigestMismatchError(f"blob content ended {remaining} bytes short of its declared size")


def _skip(f: BinaryIO, count: int) -> None:
    while count > 0:
        chunk = f.read(min(READ_CHUNK, count))
        if not chunk:
            raise DigestMismatchError("blob content ended before the resume offset")
        count -= len(chunk)


class BlobUpload:
    """Upload one blob to one repository (the caller has checked it is not there yet)."""

    def __init__(self, conn: HostConnection, repository: str, desc: Descriptor, open_content: OpenContent) -> None:
        self.conn = conn
        self.repository = repository
        self.desc = desc
        self.open_content = open_content
        self.scopes = (f"repository:{repository}:pull,push",)
        self.what = f"upload of blob {desc.digest[:19]} to {conn.host}/{repository}"
        self._failures = 0

    def run(self) -> None:
        if self.desc.size > self.conn.options.chunked_threshold:
            self._chunked()
        else:
            self._monolithic()

    def _start(self) -> str:
        response = self.conn.send(
            "POST", f"/v2/{self.repository}/blobs/uploads/", scopes=self.scopes, what=self.what
        )
        self.conn.check(response, (202,), self.what, self.scopes)
        return self._location(response)

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.what}: the registry gave no upload location")
        return str(response.request.url.join(location))

    def _finish_url(self, location: str) -> str:
        return str(httpx.URL(location).copy_merge_params({"digest": self.desc.digest}))

    def _give_up_unless_retryable(self, err: RegistryError) -> None:
        self._failures += 1
        if isinstance(err, (AuthError, TLSError)) or self._failures >= self.conn.options.retry.attempts:
            raise err
        log.warning("%s; resuming", err)

    def _finished(self, response: httpx.Response) -> None:
        self.conn.check(response, (201, 204), self.what, self.scopes)
        got = response.headers.get("Docker-Content-Digest")
        if got and got != self.desc.digest:
            raise DigestMismatchError(f"{self.what}: the registry stored digest {got}")

    def _monolithic(self) -> None:
        while True:
            try:
                location = self._start()
                response = self.conn.send(
                    "PUT",
                    self._finish_url(location),
                    scopes=self.scopes,
                    what=self.what,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(self.desc.size),
                    },
                    content=lambda: content_chunks(self.open_content, 0, self.desc.size),
                )
                self._finished(response)
                return
            except RegistryError as err:
                if err.status is not None and err.status < 500 and err.status != 404:
                    raise
                self._give_up_unless_retryable(err)

    def _chunked(self) -> None:
        location, offset = self._start(), 0
        size, chunk_size = self.desc.size, self.conn.options.chunk_size
        while offset < size:
            end = min(offset + chunk_size, size)
            try:
                response = self.conn.send(
                    "PATCH",
                    location,
                    scopes=self.scopes,
                    what=self.what,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{end - 1}",
                        "Content-Length": str(end - offset),
                    },
                    content=functools.partial(content_chunks, self.open_content, offset, end - offset),
                    retry=False,
                )
                self.conn.check(response, (202,), self.what, self.scopes)
                location, offset = self._location(response), end
            except RegistryError as err:
                self._give_up_unless_retryable(err)
                location, offset = self._resume(location, offset)
        response = self.conn.send(
            "PUT",
            self._finish_url(location),
            scopes=self.scopes,
            what=self.what,
            headers={"Content-Length": "0"},
        )
        self._finished(response)

    def _resume(self, location: str, confirmed: int) -> tuple[str, int]:
        """Where the registry's copy of the upload ends; a fresh upload if it lost it."""
        response = self.conn.send("GET", location, scopes=self.scopes, what=self.what)
        if response.status_code != 204:
            if response.status_code in (401, 403):
                self.conn.check(response, (204,), self.what, self.scopes)
            log.warning("%s: the registry dropped the upload (status %d); starting over", self.what, response.status_code)
            return self._start(), 0
        first, _, last = response.headers.get("Range", "0-0").partition("-")
        # distribution answers "0-0" both for an empty upload and for one byte.
        stored = 0 if (last in ("", "0") and confirmed == 0) else int(last) + 1
        log.info("%s: resuming at byte %d of %d", self.what, stored, self.desc.size)
        return self._location(response), stored
