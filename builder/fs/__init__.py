"""Filesystem and layer engine: safe unpack, per-step snapshots, deterministic layers.

Public API (import from the submodules; this package imports nothing heavy, and re-exports
`unpack_tar` for multiarch, which imports builder's public modules only):
- `builder.fs.unpack`: `unpack_layer(blob_path, media_type, root, mode=UnpackMode.MERGED,
  expect_diff_id=None) -> UnpackResult`; `UnpackMode.MERGED | OVERLAY_LOWER`.
- `builder.fs.overlay`: `OverlaySnapshot(lowers_top_first, scratch)` — `mount()` returns
  the merged root to run the step in, `unmount()`, `changes(ignore) -> list[Change]`;
  `overlay_available(scratch)`.
- `builder.fs.walk`: `WalkSnapshot(root, ignore, full=False, watch=False)` — records a
  metadata index at creation; `changes() -> list[Change]` compares and re-records (fallback
  when overlayfs cannot be mounted); with `watch`, only directories `builder.fs.dirwatch`
  (inotify) saw change are listed again; `close()`.
- Mountpoint stubs of RUN mounts: see the contract in `builder.fs.overlay`'s docstring.
- `builder.fs.changes`: `Change(path, kind, source, uid, gid, mode, header)`, `ChangeKind`,
  `DEFAULT_IGNORES`.
- `builder.fs.layer`: `write_layer(changes, store, compression, level, source_date_epoch,
  docker_media_type) -> LayerResult(diff_id, descriptor, path, tar_size)`;
  `copy_changes([CopyItem(source, dest, uid, gid, mode)]) -> list[Change]` for COPY layers;
  `write_tar(changes, out)` for an uncompressed stream.
- `builder.fs.compression`: `open_layer_tar(source, media_type, name)`, `compressor(sink, kind, level)`.
- `builder.fs.devices`: device nodes an unpack could not create (no CAP_MKNOD), recorded by
  directory; the copier carries them, the walk snapshot re-emits them into layers.
- `builder.fs.paths`: `RootDir` (chroot-like resolution inside a root), `real_path`,
  `remove_tree`; `builder.fs.tarformat`: the tar reader/header encoder the above use.
- `builder.fs.unpack.unpack_tar(stream, root, mode=...)`: unpack an uncompressed tar stream
  (build contexts, ADD archives) with the same safety.

A RUN step with overlay, in short::

    lowers = [store.layers.get_or_extract(l.diff_id, store.blobs.path(l.digest), l.media_type)
              for l in reversed(base_layers)]          # top first
    snap = OverlaySnapshot(previous_uppers[::-1] + lowers, scratch_dir)
    root = snap.mount()
    ... run the step in root (the sandbox creates and removes its mountpoint stubs) ...
    snap.unmount()
    changes = snap.changes(ignore=DEFAULT_IGNORES + mount_targets)
    layer = write_layer(changes, store, compression="gzip")   # snap.upper: next step's lower
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.fs.unpack import unpack_tar

__all__ = ["unpack_tar"]


def __getattr__(name: str) -> Any:
    # Lazy: the package itself stays free of imports (multiarch's ssh runner needs only this).
    if name == "unpack_tar":
        return importlib.import_module("builder.fs.unpack").unpack_tar
    raise AttributeError(f"module 'builder.fs' has no attribute {name!r}")
