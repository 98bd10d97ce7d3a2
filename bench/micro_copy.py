"""Micro benchmark (issue 2): copy a 512 MiB single-layer image between two registries and
between two repositories of one registry, `multiarch copy` vs `skopeo copy` in the same run.

    python -m bench.micro_copy [--quick] [--runs N]

Every copy goes to a fresh destination (a new registry, or a new repository) so nothing is
skipped because a previous run left it there. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import ourcli
from bench.host import ensure_tools, remove_tree
from bench.images import OciLayout
from bench.measure import Measurement, measure
from bench.registry import LocalRegistry, Traffic

MIB = 1 << 20
LAYER_MIB = 512
CACHE = Path(os.environ.get("MULTIARCH_BENCH_DIR", "/dev/shm/multiarch-bench"))


@dataclass(frozen=True)
class CopyRun:
    measurement: Measurement
    traffic: Traffic  # as seen by the destination registry


def _big_layout(cache: Path) -> Path:
    path = cache / "oci" / f"big{LAYER_MIB}"
    if (path / ".done").exists():
        return path
    remove_tree(path)
    layout = OciLayout(path)
    rootfs = cache / "rootfs" / f"big{LAYER_MIB}"
    remove_tree(rootfs)
    rootfs.mkdir(parents=True)
    with open("/dev/urandom", "rb") as src, open(rootfs / "big.bin", "wb") as dst:
        for _ in range(LAYER_MIB):
            dst.write(src.read(MIB))
    layout.tag(layout.add_image(rootfs, "amd64", ["sh"]), "1", {"architecture": "amd64", "os": "linux"})
    remove_tree(rootfs)
    (path / ".done").touch()
    return path


def _copy_argv(tool: str, src: str, dst: str, hosts: list[str]) -> list[str]:
    if tool == "skopeo":
        return ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                f"docker://{src}", f"docker://{dst}"]
    return [ourcli.executable(), "copy", *ourcli.insecure_flags("copy", hosts),
            f"docker://{src}", f"docker://{dst}"]


def _copy(tool: str, src: str, dst: str, dest_registry: LocalRegistry, hosts: list[str],
          log: Path) -> CopyRun:
    before = dest_registry.traffic()
    m = measure(_copy_argv(tool, src, dst, hosts), log=log)
    return CopyRun(m, dest_registry.traffic() - before)


def _cell(runs: list[CopyRun], error: str | None) -> tuple[str, str, str]:
    if error:
        return error, "—", "—"
    walls = [r.measurement.wall_s for r in runs]
    rss = max(r.measurement.tree_rss_peak for r in runs) / MIB
    largest = max(r.measurement.proc_rss_peak for r in runs) / MIB
    up = statistics.median(r.traffic.up for r in runs) / MIB
    return (f"{statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f})",
            f"{rss:.0f} / {largest:.0f}", f"{up:.1f}")


def run(runs: int, work: Path, log: Path) -> str:
    ensure_tools()
    layout = _big_layout(CACHE)
    remove_tree(work)
    log.parent.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], list[CopyRun]] = {}
    errors: dict[str, str | None] = {"skopeo": None, "ours": None}
    missing = ourcli.unavailable("copy")
    if missing:
        errors["ours"] = f"not available yet: {missing}"
    with LocalRegistry(work / "src") as source:
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:1",
                        f"docker://{source.host}/src/big:1"], check=True)
        src = f"{source.host}/src/big:1"
        for i in range(1, runs + 1):
            tools = ["ours", "skopeo"] if i % 2 else ["skopeo", "ours"]
            for tool in tools:
                if errors[tool]:
                    continue
                with LocalRegistry(work / f"dst-{tool}-{i}") as dest:
                    cross = _copy(tool, src, f"{dest.host}/dst/big:1", dest,
                                  [source.host, dest.host], log)
                remove_tree(work / f"dst-{tool}-{i}")
                same = _copy(tool, src, f"{source.host}/copy-{tool}-{i}/big:1", source,
                             [source.host], log)
                for case, r in (("between two registries", cross), ("between two repos, one registry", same)):
                    if not r.measurement.ok:
                        shown = os.path.relpath(log, Path(__file__).resolve().parent.parent)
                        errors[tool] = f"failed: {r.measurement.first_error_line()} (log: {shown})"
                    results.setdefault((case, tool), []).append(r)
    remove_tree(work)
    lines = [
        f"Copy of a {LAYER_MIB} MiB single-layer image, median (min–max) wall s over {runs} run(s);",
        "RSS MiB = process tree peak / largest process; pushed = MiB sent to the destination.",
        "",
        "| case | ours s | skopeo s | ours/skopeo | ours RSS | skopeo RSS | ours pushed | skopeo pushed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in ("between two registries", "between two repos, one registry"):
        ours_runs, skopeo_runs = results.get((case, "ours"), []), results.get((case, "skopeo"), [])
        o, s = _cell(ours_runs, errors["ours"]), _cell(skopeo_runs, errors["skopeo"])
        ratio = "—"
        if not errors["ours"] and not errors["skopeo"]:
            ours_s = statistics.median(r.measurement.wall_s for r in ours_runs)
            skopeo_s = statistics.median(r.measurement.wall_s for r in skopeo_runs)
            ratio = f"{ours_s / skopeo_s:.2f}"
        lines.append(f"| {case} | {o[0]} | {s[0]} | {ratio} | {o[1]} | {s[1]} | {o[2]} | {s[2]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.micro_copy", description=__doc__)
    p.add_argument("--quick", action="store_true", help="one run")
    p.add_argument("--runs", type=int, help="runs per tool (default 3, quick 1)")
    args = p.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    here = Path(__file__).parent
    work = CACHE / f"work-micro-copy-{os.getpid()}"
    print(run(runs, work, here / "out" / "logs" / "micro_copy.log"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
