"""Micro-benchmark: snapshot of a step that changes one file on a 10,000+ file base.

Run as root: `python -m bench.micro_snapshot [--runs 5]`. Storage is tmpfs (/dev/shm).
The base is a debootstrap --variant=minbase bookworm rootfs (copied from the bench suite's
cache when present, else debootstrapped once into /dev/shm/multiarch-fs-bench), padded with
small generated files to more than 10,000 entries. Reports the median of the runs for:
overlay mount, overlay `changes()`, writing the step's gzip layer, and the walk snapshotter
(recording the index, then `changes()`, quick and full mode, each with and without the
inotify directory watch).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from builder.fs.layer import CopyItem, copy_changes, write_layer
from builder.fs.overlay import OverlaySnapshot
from builder.fs.walk import WalkSnapshot
from builder.store import Store

CACHE = Path("/dev/shm/multiarch-fs-bench")
SUITE_ROOTFS = Path("/dev/shm/multiarch-bench/rootfs/debian-amd64")
MIN_ENTRIES = 10_500
CHANGED = "etc/debian_version"


def count_entries(root: Path) -> int:
    return sum(len(d) + len(f) for _, d, f in os.walk(root))


def prepare_base() -> Path:
    base = CACHE / "minbase"
    done = CACHE / "minbase.done"
    if done.exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    if (SUITE_ROOTFS / ".debootstrap-done").exists():
        subprocess.run(["cp", "-a", str(SUITE_ROOTFS), str(base)], check=True)
        (base / ".debootstrap-done").unlink()
    else:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(base), "http://deb.debian.org/debian"],
            check=True, stdout=subprocess.DEVNULL,
        )
    pad = base / "usr/share/bench-pad"
    missing = MIN_ENTRIES - count_entries(base)
    for i in range(max(0, missing)):
        d = pad / f"{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_text(f"pad {i}\n")
    done.touch()
    return base


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000


def change_one_file(root: Path, run: int) -> None:
    with open(root / CHANGED, "a") as f:
        f.write(f"run {run}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = prepare_base()
    entries = count_entries(base)
    work = Path(tempfile.mkdtemp(prefix="snapbench-", dir="/dev/shm"))
    rows: dict[str, list[float]] = {}
    try:
        with Store(work / "store") as store:
            layer, pack_ms = timed(lambda: write_layer(copy_changes([CopyItem(base, "/")]), store, compression="none"))
            lower, extract_ms = timed(lambda: store.layers.get_or_extract(layer.diff_id, layer.path, layer.descriptor.media_type))
            for run in range(args.runs):
                snap = OverlaySnapshot([lower], work / f"overlay{run}")
                root, ms = timed(snap.mount)
                rows.setdefault("overlay mount", []).append(ms)
                try:
                    change_one_file(root, run)
                    changes, ms = timed(snap.changes)
                    rows.setdefault("overlay changes()", []).append(ms)
                    assert [c.path for c in changes] == ["etc", CHANGED], changes
                    _, ms = timed(lambda: write_layer(changes, store, compression="gzip"))
                    rows.setdefault("overlay step layer (gzip)", []).append(ms)
                finally:
                    snap.unmount()
            for full, watch in itertools.product((False, True), (False, True)):
                mode = ("full" if full else "quick") + (", inotify" if watch else "")
                for run in range(args.runs):
                    root = work / f"walk-{full}-{watch}-{run}"
                    subprocess.run(["cp", "-a", str(base), str(root)], check=True)
                    walk, ms = timed(lambda: WalkSnapshot(root, full=full, watch=watch))
                    rows.setdefault(f"walk ({mode}) record index", []).append(ms)
                    change_one_file(root, run)
                    changes, ms = timed(walk.changes)
                    rows.setdefault(f"walk ({mode}) changes()", []).append(ms)
                    assert [c.path for c in changes] == ["etc", CHANGED], changes
                    walk.close()
                    shutil.rmtree(root)
    finally:
        subprocess.run(["umount", "-q", *[str(p) for p in work.glob("overlay*/merged")]], check=False,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    print(f"base: {entries} entries (debootstrap minbase + padding) on tmpfs; {args.runs} runs, median ms")
    print(f"  one-time: base layer tar {pack_ms:.0f} ms, extract into layer cache {extract_ms:.0f} ms")
    for name, values in rows.items():
        print(f"  {name:40s} {statistics.median(values):8.1f}   (min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()
