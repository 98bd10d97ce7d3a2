"""One filesystem-changing step: mount the stage's layers under a fresh overlay upper, let
the step work in the merged root, then turn the upper dir into a layer.

The upper dir is kept as the new layer's directory, so the next step stacks it as a lower
dir: nothing is copied or extracted between steps, and a step costs what it changed.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from builder.build.image import Layer, Rootfs
from builder.fs.changes import DEFAULT_IGNORES
from builder.fs.layer import write_layer
from builder.fs.overlay import OverlaySnapshot
from builder.store import Store


@dataclass(frozen=True)
class LayerOptions:
    compression: str = "gzip"
    level: int | None = None
    source_date_epoch: int | None = None
    ignore_paths: tuple[str, ...] = ()
    """--ignore-path: image paths RUN steps never capture."""


class Snapshotter:
    """Owns the scratch directory of one build; every step gets its own subdirectory."""

    def __init__(self, scratch: Path, store: Store, options: LayerOptions) -> None:
        self.scratch = scratch
        self.store = store
        self.options = options
        self._ids = itertools.count(1)
        self.scratch.mkdir(parents=True, exist_ok=True)

    def new_dir(self, prefix: str) -> Path:
        path = self.scratch / f"{prefix}-{next(self._ids)}"
        path.mkdir()
        return path

    def step(
        self,
        rootfs: Rootfs,
        action: Callable[[Path], Iterable[str]],
        *,
        sandboxed: bool,
    ) -> Layer | None:
        """Run `action(merged_root)`; it returns image paths to leave out of the layer (its
        mount targets). None when the step changed nothing (BuildKit drops empty layers)."""
        snap = OverlaySnapshot(rootfs.lowers_top_first, self.new_dir("step"))
        root = snap.mount()
        try:
            ignore = list(action(root))
        finally:
            snap.unmount()
        if sandboxed:
            ignore.extend(DEFAULT_IGNORES + self.options.ignore_paths)
        changes = snap.changes(ignore=ignore)
        if not changes:
            shutil.rmtree(snap.scratch, ignore_errors=True)
            return None
        result = write_layer(
            changes,
            self.store,
            compression=self.options.compression,  # type: ignore[arg-type]
            level=self.options.level,
            source_date_epoch=self.options.source_date_epoch,
        )
        return Layer(result.descriptor, result.diff_id, snap.upper)

    def view(self, rootfs: Rootfs) -> "MountedView":
        """A mounted, throwaway-writable view of a finished stage (COPY --from, bind mounts)."""
        snap = OverlaySnapshot(rootfs.lowers_top_first, self.new_dir("view"))
        snap.mount()
        return MountedView(snap)

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


class MountedView:
    def __init__(self, snap: OverlaySnapshot) -> None:
        self._snap = snap
        self.root = snap.merged

    def close(self) -> None:
        self._snap.unmount()
