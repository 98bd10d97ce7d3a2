"""Uploads of one blob to one repository take turns across every client of the process.

distribution (and GitLab's fork) rewrites a repository's link file for a blob in place on
every upload of it; a manifest PUT that reads the link at that moment fails with
DIGEST_INVALID / MANIFEST_BLOB_UNKNOWN. The platforms of one `multiarch build` each have a
client and often share layers, so the turns, and the memory of which blobs this process has
uploaded, belong to the process rather than to a client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

BlobKey = tuple[str, str, str]
"""(registry host, repository, digest)"""


class BlobTurns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turns: dict[BlobKey, threading.Lock] = {}
        self._uploaded: set[BlobKey] = set()

    @contextmanager
    def turn(self, key: BlobKey) -> Iterator[bool]:
        """Held while a client decides on and makes its upload of `key`; yields whether some
        client of this process has uploaded it before (ask the registry, do not assume it
        missing: a registry that restarted on the same port may have lost it)."""
        with self._lock:
            turn = self._turns.setdefault(key, threading.Lock())
        with turn:
            with self._lock:
                uploaded = key in self._uploaded
            yield uploaded

    def uploaded(self, key: BlobKey) -> None:
        with self._lock:
            self._uploaded.add(key)


BLOB_TURNS = BlobTurns()
