"""The bench workloads (issue 8): Dockerfiles in bench/workloads/, contexts generated here."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from bench.results import Anchor

WORKLOADS_DIR = Path(__file__).parent / "workloads"


class Kind(str, Enum):
    SINGLE = "single"  # one platform, build + push
    MULTI = "multi"  # linux/amd64 + linux/arm64, index push
    REBUILD = "rebuild"  # warm-up build (untimed), then a no-change rebuild with the cache


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    directory: str
    kind: Kind = Kind.SINGLE
    platforms: tuple[str, ...] = ("linux/amd64",)
    build_args: tuple[tuple[str, str], ...] = ()
    quick_runs: int = 2
    anchor: Anchor = Anchor()
    goal: float | None = None
    """Issue 16's goal for ours/kaniko."""
    generate: Callable[[Path], None] = field(default=lambda ctx: None, compare=False)

    @property
    def emulated(self) -> bool:
        return any(not p.startswith("linux/amd64") for p in self.platforms)

    def prepare_context(self, dest: Path) -> Path:
        """A fresh context dir: the static files of bench/workloads/<dir> plus generated ones."""
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(WORKLOADS_DIR / self.directory, dest)
        self.generate(dest)
        return dest


def _write_files(root: Path, count: int, seed: int, min_size: int = 200, max_size: int = 4000) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        size = rng.randint(min_size, max_size)
        (root / f"file{i:03d}.txt").write_bytes(rng.randbytes(size // 2).hex().encode()[:size])


def _small_context(ctx: Path) -> None:
    _write_files(ctx / "files", 50, seed=1)


def _args_context(ctx: Path) -> None:
    app = ctx / "app"
    _write_files(app / "src", 20, seed=5)
    (app / "debug.log").write_text("ignored by .dockerignore\n")
    (app / "keep.log").write_text("re-included by .dockerignore\n")
    _write_files(app / "tmp", 30, seed=6)


# Anchors: shared/anchors.md's 2026-12 session (kaniko v1.24, buildah 1.28, same kind of
# machine). Goals: issue 16, as ours/kaniko at most.
WORKLOADS: tuple[Workload, ...] = (
    Workload(key="w1", title="w1 small", directory="w1_small", generate=_small_context,
             anchor=Anchor(kaniko_s=0.14, kaniko_rss_mib=48, buildah_s=1.31), goal=1.2),
    Workload(key="w1-arm64", title="w1 small, linux/arm64 (QEMU)", directory="w1_small",
             generate=_small_context, platforms=("linux/arm64",),
             anchor=Anchor(kaniko_s=0.17, kaniko_rss_mib=49)),
    Workload(key="w2", title="w2 big-base touch", directory="w2_big_base_touch",
             anchor=Anchor(kaniko_s=1.19, kaniko_rss_mib=64, buildah_s=2.16), goal=0.65),
    Workload(key="w3", title="w3 multi-stage", directory="w3_multistage",
             anchor=Anchor(kaniko_s=2.94, kaniko_rss_mib=386, buildah_s=2.68), goal=0.65),
    Workload(key="w4", title="w4 512 MiB layer", directory="w4_big_layer", quick_runs=1,
             anchor=Anchor(kaniko_s=12.7, kaniko_rss_mib=2096, buildah_s=10.4), goal=0.65),
    Workload(key="w5", title="w5 args", directory="w5_args", generate=_args_context,
             build_args=(("VERSION", "1.2.3"), ("GREETING", "bench")),
             anchor=Anchor(kaniko_s=0.09, kaniko_rss_mib=46, buildah_s=1.41), goal=1.2),
    Workload(key="w6", title="w6 multiarch (w1 amd64+arm64+index)", directory="w1_small",
             generate=_small_context, kind=Kind.MULTI, platforms=("linux/amd64", "linux/arm64"),
             quick_runs=1,
             # kaniko: two builds + manifest-tool, summed; buildah's anchor used --layers.
             anchor=Anchor(kaniko_s=0.33, kaniko_rss_mib=49, buildah_s=7.76), goal=0.8),
    Workload(key="w7", title="w7 no-change rebuild of w1", directory="w1_small",
             generate=_small_context, kind=Kind.REBUILD, quick_runs=1,
             anchor=Anchor(kaniko_s=0.13, kaniko_rss_mib=47), goal=1.0),
)
EXTRAS = ("steps", "manifest", "attest")
"""Fixed-cost measurements beside the workloads (bench/fixedcost.py), selectable by --only."""


def select(keys: list[str] | None) -> list[Workload]:
    if not keys:
        return list(WORKLOADS)
    known = {w.key: w for w in WORKLOADS}
    unknown = [k for k in keys if k not in known and k not in EXTRAS]
    if unknown:
        raise SystemExit(f"bench: unknown workload(s) {', '.join(unknown)}; "
                         f"known: {', '.join([*known, *EXTRAS])}")
    return [known[k] for k in keys if k in known]


def select_extras(keys: list[str] | None) -> tuple[str, ...]:
    return EXTRAS if not keys else tuple(k for k in EXTRAS if k in keys)
