"""Run one command and measure it: wall time, peak RSS of the process tree, peak RSS of the
largest single process.

Peak RSS comes from two sources. The largest single process is exact: the rusage that wait4()
returns for the child (Linux folds in the maxrss of every descendant the tree reaped itself).
The tree sum is sampled: a thread walks /proc/PID/task/*/children from the root every ~20 ms
and adds up VmRSS. cgroup memory accounting would be exact too, but this machine only has the
cgroup v1 memory controller, which charges tmpfs page cache (our build storage) to the group,
so it would count the files a build writes, not the memory it uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_INTERVAL_S = 0.02
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measurement:
    argv: tuple[str, ...]
    wall_s: float
    exit_code: int
    tree_rss_peak: int  # bytes, sum over the process tree, sampled
    proc_rss_peak: int  # bytes, largest single process, exact
    output_tail: str  # last lines of stdout+stderr, for error reports
    cpu_s: float = 0.0
    """User + system CPU of the command and every descendant it (or they) waited for: on a
    shared machine, far steadier than wall time."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def first_error_line(self) -> str:
        lines = [line.strip() for line in self.output_tail.splitlines() if line.strip()]
        for line in lines:
            low = line.lower()
            if "error" in low or "no such" in low or "not " in low or "usage" in low:
                return line
        return lines[-1] if lines else f"exit code {self.exit_code}"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss(pid)
        stack.extend(_children(pid))
    return total


class _TreeSampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss(self.root))
            self._stop_event.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _tail(path: Path, since: int, lines: int = 30) -> str:
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(since, f.tell() - 16384))
        text = f.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def measure(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    log: Path | None = None,
    timeout_s: float = 900,
) -> Measurement:
    """Run argv to completion and measure it. Output goes to `log` (appended), never to us."""
    log_path = log or Path(os.devnull)
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        since = out.tell()
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), env=full_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        deadline = threading.Timer(timeout_s, _kill_group, args=(proc.pid,))
        deadline.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            deadline.cancel()
            sampler.stop()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    _kill_group(proc.pid)  # leftovers of a command that left background processes behind
    tail = _tail(log_path, since) if log else ""
    return Measurement(
        argv=tuple(argv), wall_s=wall, exit_code=proc.returncode,
        tree_rss_peak=max(sampler.peak, usage.ru_maxrss * 1024),
        proc_rss_peak=usage.ru_maxrss * 1024, output_tail=tail,
        cpu_s=usage.ru_utime + usage.ru_stime,
    )


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
