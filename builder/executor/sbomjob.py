"""The SBOM of a build, made beside the build rather than after it. Its libraries (spdx-tools
with beartype, cyclonedx-python-lib, python-debian: ~0.2 s to import) load on a worker thread
while the steps run, mostly waiting on their processes; the inventory of the final filesystem
is then taken on that thread while the image is pushed. Both would otherwise add to the
build's wall time."""

from __future__ import annotations

import importlib
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import ModuleType

from builder.attest.statement import Predicate
from builder.option_choices import SbomFormat


class SbomJob:
    def __init__(self, fmt: SbomFormat) -> None:
        self._fmt = fmt
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="sbom")
        self._writer: Future[ModuleType] = self._worker.submit(self._load)
        self._made: Future[Predicate] | None = None

    def start(self, root: Path, image_name: str, epoch: datetime | None) -> None:
        """Take the inventory of `root` (the final filesystem, left unchanged until `close`)."""
        self._made = self._worker.submit(self._generate, root, image_name, epoch)

    def result(self) -> Predicate:
        if self._made is None:
            raise RuntimeError("SbomJob.result() before start()")
        return self._made.result()

    def close(self) -> None:
        """Wait for the worker (a failed build's SBOM is dropped): the root it reads may go
        once this returns."""
        self._worker.shutdown(wait=True, cancel_futures=True)

    def _load(self) -> ModuleType:
        module = importlib.import_module("builder.attest.sbom")
        importlib.import_module(module.WRITERS[self._fmt])
        return module

    def _generate(self, root: Path, image_name: str, epoch: datetime | None) -> Predicate:
        writer = self._writer.result()
        predicate: Predicate = writer.generate_sbom(root, self._fmt, image_name, epoch)
        return predicate
