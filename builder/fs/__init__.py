"""Filesystem and layer engine: safe unpack, per-step snapshots, deterministic layers.

Public API (import from the submodules; this package imports nothing heavy):
- `builder.fs.unpack`: `unpack_layer(blob_path, media_type, root, mode=UnpackMode.MERGED,
  expect_diff_id=None) -> UnpackResult`; `UnpackMode.MERGED | OVERLAY_LOWER`.
- `builder.fs.overlay`: `OverlaySnapshot(lowers_top_first, scratch)` — `mount()` returns
  the merged root to run the step in, `unmount()`, `changes(ignore) -> list[Change]`;
  `overlay_available(scratch)`.
- `builder.fs.walk`: `WalkSnapshot(root, ignore, full=False)` — records a metadata index at
  creation; `changes() -> list[Change]` compares and re-records (fallback when overlayfs
  cannot be mounted).
- `builder.fs.stubs`: `create_mount_stubs(root, targets) -> MountStubs` / `MountStubs.remove()`
  — mountpoints the sandbox needs, created before a step and removed after it so they never
  reach a layer.
- `builder.fs.changes`: `Change(path, kind, source, uid, gid, mode)`, `ChangeKind`,
  `DEFAULT_IGNORES`.
- `builder.fs.layer`: `write_layer(changes, store, compression, level, source_date_epoch,
  docker_media_type) -> LayerResult(diff_id, descriptor, path, tar_size)`;
  `copy_changes([CopyItem(source, dest, uid, gid, mode)]) -> list[Change]` for COPY layers;
  `write_tar(changes, out)` for an uncompressed stream.
- `builder.fs.compression`: `open_layer_tar(path, media_type)`, `compressor(sink, kind, level)`.

A RUN step with overlay, in short::

    lowers = [store.layers.get_or_extract(l.diff_id, store.blobs.path(l.digest), l.media_type)
              for l in reversed(base_layers)]          # top first
    snap = OverlaySnapshot(previous_uppers[::-1] + lowers, scratch_dir)
    root = snap.mount()
    stubs = create_mount_stubs(root, [MountTarget("/etc/resolv.conf", is_dir=False), ...])
    ... run the step in root with its bind mounts ...   (unmount them first)
    stubs.remove()
    changes = snap.changes(ignore=DEFAULT_IGNORES + tuple(secret_and_cache_targets))
    layer = write_layer(changes, store, compression="gzip")
    snap.unmount()
"""
