"""Micro benchmark: start-up of the `multiarch` command (imports and set-up before any work),
which is part of every figure we hold against kaniko (one Go process, milliseconds).

    python -m bench.micro_startup [--runs N]

Median wall and CPU (user+sys) seconds over N runs of each command; CPU is the steadier
figure on a busy machine. `python -c pass` is the floor every Python command pays.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

from bench import ourcli

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "multiarch --version": ["--version"],
    "multiarch executor --help": ["executor", "--help"],
    "multiarch copy --help": ["copy", "--help"],
}


def _once(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(runs: int) -> str:
    lines = [f"Start-up, median of {runs} runs (seconds)", "",
             "| command | wall | cpu |", "|---|---|---|"]
    for name, args in COMMANDS.items():
        argv = args if args[0] == sys.executable else [ourcli.executable(), *args]
        samples = [_once(argv) for _ in range(runs)]
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        lines.append(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.micro_startup", description=__doc__)
    p.add_argument("--runs", type=int, default=10)
    print(run(p.parse_args(argv).runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
