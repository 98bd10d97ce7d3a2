"""Micro-benchmark: gzip-compressing a 512 MiB incompressible layer, next to pigz and gzip.

Run: `python -m bench.micro_compress [--size-mib 512]`. The input is random bytes on tmpfs
(/dev/shm/multiarch-fs-bench/random-<N>M, made once). Each contender runs as its own child
process, so wall time and peak RSS (wait4's ru_maxrss) are measured the same way for all:
- ours: `write_layer` of a one-file change list into a store on tmpfs (tar -> sha256 ->
  compress -> sha256 -> blob), default level and level 9, plus zstd for reference;
- `pigz -c` (default -6, and -1), `gzip -c -6`, writing to /dev/null.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path("/dev/shm/multiarch-fs-bench")

OURS = """
import sys
from pathlib import Path
from builder.fs.layer import CopyItem, copy_changes, write_layer
from builder.store import Store
src, store_dir, compression, level = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with Store(store_dir) as store:
    r = write_layer(copy_changes([CopyItem(Path(src), "/big")]), store, compression=compression,
                    level=int(level) if level != "-" else None)
    print(r.descriptor.size)
"""


def random_file(size_mib: int) -> Path:
    path = CACHE / f"random-{size_mib}M"
    if path.exists() and path.stat().st_size == size_mib << 20:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    return path


def run(argv: list[str], stdout_path: str | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB and stdout of one child process."""
    out_fd = os.open(stdout_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    read_fd, write_fd = os.pipe() if stdout_path is None else (None, None)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(write_fd if write_fd is not None else out_fd, 1)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    if write_fd is not None:
        os.close(write_fd)
    captured = b""
    if read_fd is not None:
        while chunk := os.read(read_fd, 1 << 16):
            captured += chunk
        os.close(read_fd)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    os.close(out_fd)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed")
    return elapsed, usage.ru_maxrss // 1024, captured.decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=512)
    args = parser.parse_args()
    src = random_file(args.size_mib)
    work = Path(tempfile.mkdtemp(prefix="compressbench-", dir="/dev/shm"))
    contenders = [
        ("ours gzip (default level)", [sys.executable, "-c", OURS, str(src), str(work / "s1"), "gzip", "-"], None),
        ("ours gzip -9", [sys.executable, "-c", OURS, str(src), str(work / "s2"), "gzip", "9"], None),
        ("ours zstd (default level)", [sys.executable, "-c", OURS, str(src), str(work / "s3"), "zstd", "-"], None),
        ("pigz -6 (default)", ["pigz", "-c", "-6", str(src)], str(work / "pigz6.gz")),
        ("pigz -1", ["pigz", "-c", "-1", str(src)], str(work / "pigz1.gz")),
        ("gzip -6", ["gzip", "-c", "-6", str(src)], str(work / "gzip6.gz")),
    ]
    print(f"input: {args.size_mib} MiB of random bytes on tmpfs; CPUs: {len(os.sched_getaffinity(0))}; "
          f"output on tmpfs")
    print(f"  {'contender':28s} {'seconds':>8s} {'MiB/s':>8s} {'peak RSS MiB':>13s} {'output MiB':>11s}")
    try:
        for name, argv, out in contenders:
            seconds, rss, stdout = run(argv, out)
            size = int(stdout.strip()) if out is None else os.path.getsize(out)
            print(f"  {name:28s} {seconds:8.2f} {args.size_mib / seconds:8.0f} {rss:13d} {size / (1 << 20):11.1f}")
            if out is not None:
                os.unlink(out)
            for store_dir in work.glob("s[0-9]"):
                shutil.rmtree(store_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
