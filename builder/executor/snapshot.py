"""One filesystem-changing step: give the step a root to work in, then turn what it changed
into a layer. Two ways, same result (the fs engine tests that both give the same changes):

- `OverlaySnapshotter`: the stage's layers are stacked as overlay lower dirs under a fresh
  upper dir; the upper dir is the change and is kept as the new layer's directory, so the
  next step stacks it in turn. Nothing is copied between steps; a step costs what it changed.
- `WalkSnapshotter`: where overlayfs cannot be mounted (unprivileged containers): the layers
  are unpacked into one directory per filesystem state, the step changes it in place, and a
  metadata walk finds what changed — kaniko's way, but listing again only the directories the
  kernel saw change (inotify), so a step costs what it changed here too. A layer the store
  lacks is unpacked while it downloads (`layer_source`), the next ones downloading meanwhile.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from builder.errors import BuildError
from builder.executor.base import PULL_WORKERS
from builder.fs import devices
from builder.fs.changes import DEFAULT_IGNORES, Change
from builder.fs.compression import Compression
from builder.fs.layer import write_layer
from builder.fs.overlay import OverlaySnapshot, overlay_available
from builder.fs.rootfs import Layer, Rootfs
from builder.fs.unpack import unpack_layer
from builder.fs.walk import WalkSnapshot
from builder.oci.models import Descriptor
from builder.store import Store

StepAction = Callable[[Path], Iterable[str]]
"""Works in the root it is given; returns image paths to leave out (its mount targets)."""
LayerSource = Callable[[Descriptor], AbstractContextManager[Iterable[bytes]]]
"""Opens the bytes of a layer the store lacks (builder.cache.build.BuildCache.open_layer)."""


@dataclass(frozen=True)
class LayerOptions:
    compression: Compression = "gzip"
    level: int | None = None
    source_date_epoch: int | None = None
    ignore_paths: tuple[str, ...] = ()
    """--ignore-path: image paths RUN steps never capture."""


class _Base:
    uses_overlay = True
    keep: tuple[str, ...] = ()
    """Normalized image paths no step may write (container-root: the builder's files and
    the container's mounts); COPY and ADD leave them alone."""

    def __init__(self, scratch: Path, store: Store, options: LayerOptions) -> None:
        self.scratch = scratch
        self.store = store
        self.options = options
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.scratch.mkdir(parents=True, exist_ok=True)

    def new_dir(self, prefix: str) -> Path:
        with self._lock:
            return self.new_dir_unlocked(prefix)

    def new_dir_unlocked(self, prefix: str) -> Path:
        path = self.scratch / f"{prefix}-{next(self._ids)}"
        path.mkdir()
        return path

    def _ignores(self, returned: list[str], sandboxed: bool) -> list[str]:
        return returned + (list(DEFAULT_IGNORES + self.options.ignore_paths) if sandboxed else [])

    def _write(self, changes: list[Change], directory: Path | None) -> Layer | None:
        if not changes:
            return None
        result = write_layer(
            changes,
            self.store,
            compression=self.options.compression,
            level=self.options.level,
            source_date_epoch=self.options.source_date_epoch,
        )
        return Layer(result.descriptor, result.diff_id, directory)

    def cleanup(self) -> None:
        self.release()
        shutil.rmtree(self.scratch, ignore_errors=True)
        devices.forget_under(str(self.scratch))

    def release(self) -> None:
        """Let go of what the snapshotter holds open: overlay views, directory watches."""


class OverlaySnapshotter(_Base):
    def __init__(self, scratch: Path, store: Store, options: LayerOptions) -> None:
        super().__init__(scratch, store, options)
        self._views: dict[tuple[Path, ...], OverlaySnapshot] = {}

    def step(self, rootfs: Rootfs, action: StepAction, *, sandboxed: bool) -> Layer | None:
        """None when the step changed nothing (BuildKit drops empty layers)."""
        snap = OverlaySnapshot(rootfs.lowers_top_first, self.new_dir("step"))
        root = snap.mount()
        try:
            returned = list(action(root))
        finally:
            snap.unmount()
        layer = self._write(snap.changes(ignore=self._ignores(returned, sandboxed)), snap.upper)
        if layer is None:
            shutil.rmtree(snap.scratch, ignore_errors=True)
        return layer

    def view(self, rootfs: Rootfs) -> Path:
        """A mounted view of a finished filesystem; writes go to a throwaway upper dir."""
        key = tuple(rootfs.lowers_top_first)
        with self._lock:
            if key not in self._views:
                snap = OverlaySnapshot(rootfs.lowers_top_first, self.new_dir_unlocked("view"))
                snap.mount()
                self._views[key] = snap
            return self._views[key].merged

    def release(self) -> None:
        for snap in self._views.values():
            snap.unmount()
        self._views.clear()


class WalkSnapshotter(_Base):
    uses_overlay = False
    layer_source: LayerSource | None = None

    def __init__(self, scratch: Path, store: Store, options: LayerOptions, *, full: bool = False) -> None:
        super().__init__(scratch, store, options)
        self.full = full
        self._roots: dict[tuple[str, ...], tuple[Path, WalkSnapshot | None]] = {}
        self._viewed: set[tuple[str, ...]] = set()

    @staticmethod
    def _key(rootfs: Rootfs) -> tuple[str, ...]:
        return tuple(layer.descriptor.digest for layer in rootfs.layers)

    def _materialize(self, rootfs: Rootfs) -> Path:
        root = self.new_dir("root")
        self._unpack(rootfs, root)
        return root

    def _unpack(self, rootfs: Rootfs, root: Path, keep: tuple[str, ...] = ()) -> None:
        """Unpack the layers in order; one the store lacks as it downloads, while the later
        ones the store lacks download into it."""
        later = [layer.descriptor for layer in rootfs.layers[1:]
                 if not self.store.blobs.has(layer.descriptor.digest)]  # fmt: skip
        with ThreadPoolExecutor(max_workers=PULL_WORKERS) as pool:
            # A failed download here is met again, and reported, by the unpack that needs it.
            ahead = [pool.submit(self._download, desc) for desc in later]
            try:
                for layer in rootfs.layers:
                    desc = layer.descriptor
                    with self.store.blobs.reading(desc, lambda: self._open_layer(desc)) as blob:
                        unpack_layer(blob, desc.media_type, root, keep=keep, name=desc.digest)
            finally:
                for future in ahead:
                    future.cancel()

    def _open_layer(self, desc: Descriptor) -> AbstractContextManager[Iterable[bytes]]:
        if self.layer_source is None:
            raise BuildError(f"layer {desc.digest} is not in the store")
        return self.layer_source(desc)

    def _download(self, desc: Descriptor) -> None:
        with self._open_layer(desc) as chunks:
            self.store.blobs.ingest(chunks, desc)

    def step(self, rootfs: Rootfs, action: StepAction, *, sandboxed: bool) -> Layer | None:
        key = self._key(rootfs)
        with self._lock:
            entry = self._roots.pop(key, None) if key not in self._viewed else None
        if entry is None:
            root = self._materialize(rootfs)
            entry = (root, WalkSnapshot(root, (), full=self.full, watch=True))
        root, snap = entry
        assert snap is not None  # a viewed root (no snapshot) is never popped above
        # A RUN step's sandbox mountpoints (/dev, /proc, ...) are left out of its layer, and
        # what it left there is the next step's baseline; a COPY or ADD into /dev is captured,
        # as the overlay snapshotter does.
        exclude = self._ignores(list(action(root)), sandboxed)
        layer = self._write(snap.changes(exclude=exclude), None)
        with self._lock:
            self._roots[key + ((layer.descriptor.digest,) if layer else ())] = entry
        return layer

    def view(self, rootfs: Rootfs) -> Path:
        key = self._key(rootfs)
        with self._lock:
            self._viewed.add(key)
            entry = self._roots.get(key)
        if entry is None:
            entry = (self._materialize(rootfs), None)
            with self._lock:
                self._roots[key] = entry
        return entry[0]

    def release(self) -> None:
        with self._lock:
            for _root, snap in self._roots.values():
                if snap is not None:
                    snap.close()
            self._roots.clear()


Snapshotter = OverlaySnapshotter | WalkSnapshotter


def squash(snapshotter: Snapshotter, base: Rootfs, layers: tuple[Layer, ...]) -> Layer | None:
    """--single-snapshot: the combined change of `layers` (bottom first) over `base`, as one
    layer. The layers are unpacked in order into a step on `base`, so the snapshotter diffs
    the end state against the base: a file added then deleted leaves nothing, a base file
    deleted by any step is a whiteout. None when the changes cancel out."""
    def action(root: Path) -> list[str]:
        for layer in layers:
            desc = layer.descriptor
            unpack_layer(snapshotter.store.blobs.path(desc.digest), desc.media_type, root)
        return []

    return snapshotter.step(base, action, sandboxed=False)


def make_snapshotter(scratch: Path, store: Store, options: LayerOptions, *, overlay: bool | None = None,
                     full: bool = False) -> Snapshotter:
    """Overlay when it can be mounted here (or `overlay` says so), else the walk."""
    if overlay is None:
        scratch.mkdir(parents=True, exist_ok=True)
        overlay = overlay_available(scratch)
    if overlay:
        return OverlaySnapshotter(scratch, store, options)
    return WalkSnapshotter(scratch, store, options, full=full)
