"""`python -m bench`: run the workloads (or `--micro`: the micro benchmarks) and write results."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from bench.results import render_markdown
from bench.suite import Options, run_suite
from bench.workloads import EXTRAS, WORKLOADS, select, select_extras

HERE = Path(__file__).parent
DEFAULT_CACHE = Path(os.environ.get("MULTIARCH_BENCH_DIR", "/dev/shm/multiarch-bench"))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="1-2 runs per workload (under 10 min)")
    p.add_argument("--runs", type=int, help="runs per workload and side (default 5; quick 1-2)")
    p.add_argument("--only", help="comma-separated workloads and fixed-cost measurements: "
                   f"{','.join([*(w.key for w in WORKLOADS), *EXTRAS])}")
    p.add_argument("--skip-ours", action="store_true", help="run the buildah side only")
    p.add_argument("--skip-buildah", action="store_true", help="run our side only")
    p.add_argument("--skip-container", action="store_true",
                   help="skip our side inside multiarch's own image under podman")
    p.add_argument("--micro", action="store_true", help="run the micro benchmarks instead")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help="tmpfs dir for base images and build storage (default %(default)s)")
    p.add_argument("--output", type=Path, default=HERE,
                   help="where results.md/results.json go (default: bench/)")
    return p.parse_args(argv)


def _has_quick(module: str) -> bool:
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    return "--quick" in done.stdout


def _run_micro(args: argparse.Namespace) -> int:
    """Each bench/micro_*.py runs alone as `python -m bench.micro_X` (with `--quick` when it
    has that flag) and prints markdown; collect them into micro-results.md, failures included."""
    sections, failed = [], 0
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    for path in sorted(HERE.glob("micro_*.py")):
        module = f"bench.{path.stem}"
        print(f"bench: {module}", flush=True)
        argv = [sys.executable, "-m", module, *(["--quick"] if args.quick and _has_quick(module) else [])]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode == 0:
            body = done.stdout.strip()
        else:
            failed += 1
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            body = f"failed (exit {done.returncode}): {lines[-1] if lines else ''}"
        print(body, flush=True)
        if not any(line.startswith("|") for line in body.splitlines()):
            body = f"```text\n{body}\n```"  # plain columns: keep them aligned in markdown
        sections.append(f"## {module}\n\n`{' '.join(['python', *argv[1:]])}`\n\n{body}\n")
    args.output.mkdir(parents=True, exist_ok=True)
    header = (f"# Micro benchmarks\n\n- started: {started}\n- load average (1 min) before / after: "
              f"{load_before:.2f} / {os.getloadavg()[0]:.2f}\n\n")
    (args.output / "micro-results.md").write_text(header + "\n".join(sections))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the registry and work dirs are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = _parse(argv)
    if args.micro:
        return _run_micro(args)
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (buildah chroot isolation, binfmt_misc, debootstrap)")
    opts = Options(
        cache=args.cache_dir,
        logs=HERE / "out" / "logs",
        runs=args.runs,
        quick=args.quick,
        workloads=tuple(select(args.only.split(",") if args.only else None)),
        ours=not args.skip_ours,
        buildah=not args.skip_buildah,
        container=not args.skip_container,
        extras=select_extras(args.only.split(",") if args.only else None),
    )
    result = run_suite(opts)
    table = render_markdown(result)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.md").write_text(table)
    (args.output / "results.json").write_text(result.model_dump_json(indent=2) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
