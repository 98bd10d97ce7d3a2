"""Fixed costs of our side (issue 16): per-step overhead, `manifest push from-spec`, what
attaching provenance (and an SBOM) adds to a build and push (issue 17), and when each
platform of a `multiarch build` ran (its `--progress json` events)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench import ourcli
from bench.host import remove_tree
from bench.measure import measure
from bench.registry import LocalRegistry
from bench.results import AttestationOverhead, ManifestPush, PlatformSpan, StepOverhead
from bench.sides import Target
from bench.workloads import WORKLOADS

EXTRA_RUNS = 10
EXTRA_METADATA = 20
_BASE = "ARG REGISTRY\nFROM ${REGISTRY}/base/busybox:latest\nRUN touch /f0\n"
_DOCKERFILES = {
    "base": _BASE,
    "runs": _BASE + "".join(f"RUN touch /f{i}\n" for i in range(1, EXTRA_RUNS + 1)),
    "metadata": _BASE + "".join(f"ENV V{i}={i}\n" for i in range(1, EXTRA_METADATA + 1)),
}
PLATFORMS = ("amd64", "arm64")


def step_overhead(registry: LocalRegistry, work: Path, runs: int, log: Path) -> StepOverhead:
    """Each variant built `runs` times, cold (a fresh store), without pushing, in turns."""
    walls: dict[str, list[float]] = {name: [] for name in _DOCKERFILES}
    cpus: dict[str, list[float]] = {name: [] for name in _DOCKERFILES}
    contexts = {}
    for name, text in _DOCKERFILES.items():
        contexts[name] = work / "steps" / name
        contexts[name].mkdir(parents=True, exist_ok=True)
        (contexts[name] / "Dockerfile").write_text(text)
    cache = work / "steps-cache"
    for i in range(runs):
        order = list(_DOCKERFILES) if i % 2 == 0 else list(reversed(_DOCKERFILES))
        for name in order:
            ctx = contexts[name]
            argv = [ourcli.executable(), "executor", "--context", str(ctx), "--dockerfile",
                    str(ctx / "Dockerfile"), "--no-push", "--build-arg",
                    f"REGISTRY={registry.host}", *ourcli.insecure_flags("executor", [registry.host])]
            remove_tree(cache)
            m = measure(argv, env={"MULTIARCH_CACHE_DIR": str(cache)}, log=log)
            remove_tree(cache)
            if not m.ok:
                raise RuntimeError(f"per-step overhead build failed: {m.first_error_line()}")
            walls[name].append(m.wall_s)
            cpus[name].append(m.cpu_s)
    return StepOverhead(base_s=tuple(walls["base"]), with_runs_s=tuple(walls["runs"]),
                        with_metadata_s=tuple(walls["metadata"]), extra_runs=EXTRA_RUNS,
                        extra_metadata=EXTRA_METADATA, base_cpu_s=tuple(cpus["base"]),
                        with_runs_cpu_s=tuple(cpus["runs"]),
                        with_metadata_cpu_s=tuple(cpus["metadata"]))


ATTESTED = ("w1", "w3")
VARIANTS = {
    "": [], "+provenance": ["--provenance"], "+provenance+sbom": ["--provenance", "--sbom"],
}


def attestation_overhead(
    registry: LocalRegistry, work: Path, runs: int, log: Path
) -> AttestationOverhead:
    """w1 and w3 built and pushed `runs` times each without attestations, with `--provenance`
    (mode=min, as `multiarch build` attaches by default) and with `--provenance --sbom`,
    cold, in turns, each push into a new repository (so the attested runs also write their
    referrers tag)."""
    walls: dict[str, list[float]] = {f"{key}{suffix}": [] for key in ATTESTED
                                     for suffix in VARIANTS}
    cpus: dict[str, list[float]] = {key: [] for key in walls}
    cache = work / "attest-cache"
    for w in (w for w in WORKLOADS if w.key in ATTESTED):
        ctx = w.prepare_context(work / "attest" / w.key)
        variants = list(VARIANTS)
        for i in range(runs):
            for suffix in variants if i % 2 == 0 else list(reversed(variants)):
                dest = f"{registry.host}/bench/attest-{w.key}-{i}{suffix.replace('+', '-')}:latest"
                argv = [ourcli.executable(), "executor", "--context", str(ctx), "--dockerfile",
                        str(ctx / "Dockerfile"), "--destination", dest,
                        *Target(w, ctx, registry.host, i).build_arg_flags(),
                        *ourcli.insecure_flags("executor", [registry.host])]
                argv += VARIANTS[suffix]
                remove_tree(cache)
                m = measure(argv, env={"MULTIARCH_CACHE_DIR": str(cache)}, log=log)
                remove_tree(cache)
                if not m.ok:
                    raise RuntimeError(f"attestation overhead build failed: {m.first_error_line()}")
                walls[f"{w.key}{suffix}"].append(m.wall_s)
                cpus[f"{w.key}{suffix}"].append(m.cpu_s)
    return AttestationOverhead(walls_s={k: tuple(v) for k, v in walls.items()},
                               cpus_s={k: tuple(v) for k, v in cpus.items()})


def manifest_push(registry: LocalRegistry, work: Path, rounds: int, log: Path) -> ManifestPush:
    """The busybox base of each platform copied to bench/mp:ARCH (untimed), then an index of
    both pushed from a manifest-tool spec, `rounds` times."""
    repo = f"{registry.host}/bench/mp"
    for arch in PLATFORMS:
        subprocess.run(["skopeo", "copy", "-q", "--override-arch", arch, "--src-tls-verify=false",
                        "--dest-tls-verify=false", f"docker://{registry.host}/base/busybox:latest",
                        f"docker://{repo}:{arch}"], check=True, capture_output=True)
    spec = work / "manifest-spec.yaml"
    spec.write_text(f"image: {repo}:multi\nmanifests:\n" + "".join(
        f"  - image: {repo}:{arch}\n    platform: {{architecture: {arch}, os: linux}}\n"
        for arch in PLATFORMS))
    argv = [ourcli.executable(), "manifest", *ourcli.insecure_flags("manifest", [registry.host]),
            "push", "from-spec", str(spec)]
    walls, cpus, requests = [], [], []
    for _ in range(rounds):
        before = registry.traffic()
        m = measure(argv, log=log)
        if not m.ok:
            raise RuntimeError(f"manifest push failed: {m.first_error_line()}")
        walls.append(m.wall_s)
        cpus.append(m.cpu_s)
        requests.append((registry.traffic() - before).requests)
    return ManifestPush(rounds_s=tuple(walls), cpu_s=tuple(cpus),
                        requests=sorted(requests)[len(requests) // 2])


@dataclass
class _Span:
    start: float
    end: float
    pull: tuple[float, float] | None = None
    runs: list[tuple[float, float]] = field(default_factory=list)
    push: tuple[float, float] | None = None


def platform_timeline(lines: Iterable[str]) -> tuple[PlatformSpan, ...]:
    """From `multiarch build --progress json` output: each platform's start and end, its
    FROM, RUN and export steps, in seconds from the first platform's start."""
    events = [json.loads(line) for line in lines if line.startswith('{"event":')]
    starts = [e["time"] for e in events if e["event"] == "platform.started"]
    if not starts:
        return ()
    zero = min(starts)
    spans: dict[str, _Span] = {}
    open_steps: dict[tuple[str, int], tuple[str, float]] = {}
    for e in events:
        at = round(e["time"] - zero, 3)
        kind = e["event"]
        if kind == "platform.started":
            spans[e["platform"]] = _Span(at, at)
        elif kind in ("platform.finished", "platform.failed") and e["platform"] in spans:
            spans[e["platform"]].end = at
        elif kind == "step.started":
            open_steps[(e["platform"], e["vertex"])] = (e["name"], at)
        elif kind == "step.finished" and (e["platform"], e["vertex"]) in open_steps:
            name, began = open_steps.pop((e["platform"], e["vertex"]))
            span = spans.get(e["platform"])
            instruction = name.split("] ", 1)[-1]
            if span is None:
                continue
            if instruction.startswith("FROM "):
                span.pull = (began, at)
            elif instruction.startswith("RUN "):
                span.runs.append((began, at))
            elif instruction.startswith("exporting"):
                span.push = (began, at)
    return tuple(
        PlatformSpan(platform=name, start_s=s.start, end_s=s.end, pull=s.pull,
                     run_steps=tuple(s.runs), push=s.push)
        for name, s in sorted(spans.items())
    )
