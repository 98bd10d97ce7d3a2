"""The two contenders, each running one workload once: buildah and multiarch ("ours").

A side turns (workload, context, run number) into a list of commands; the suite measures them.
Each side keeps all its storage under one work dir on tmpfs that the suite wipes between runs,
so every run is a cold build (the rebuild workload keeps it between its warm-up and the timed
build, which is the point of that workload).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from bench import ourcli
from bench.workloads import Kind, Workload


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Plan:
    warmup: tuple[Step, ...]  # run untimed first (the rebuild workload's first build)
    timed: tuple[Step, ...]
    result: str  # the reference the timed steps push
    between: bool = False  # wipe the side's local state between warm-up and timed steps


@dataclass(frozen=True)
class Target:
    workload: Workload
    context: Path
    registry: str  # host:port
    run: int

    def destination(self, side: str, suffix: str = "") -> str:
        """A new repository per run, so no run finds blobs an earlier run pushed."""
        return f"{self.registry}/bench/{self.workload.key}-{side}-run{self.run}{suffix}:latest"

    def build_arg_flags(self) -> list[str]:
        pairs = [("REGISTRY", self.registry), *self.workload.build_args]
        return [flag for k, v in pairs for flag in ("--build-arg", f"{k}={v}")]


class Buildah:
    name = "buildah"

    def __init__(self, work: Path) -> None:
        self.work = work

    def unavailable(self, kind: Kind) -> str | None:
        return None if shutil.which("buildah") else "buildah is not installed"

    def _base(self) -> list[str]:
        return ["buildah", "--root", str(self.work / "root"), "--runroot", str(self.work / "runroot"),
                "--storage-driver", "vfs"]

    def _build(self, t: Target, layers: bool, extra: list[str]) -> Step:
        args = t.build_arg_flags()
        return Step((*self._base(), "build", "--quiet", "--isolation", "chroot",
                     f"--layers={'true' if layers else 'false'}", "--tls-verify=false", *args,
                     *extra, "-f", str(t.context / "Dockerfile"), str(t.context)))

    def _push(self, image: str, dest: str) -> Step:
        return Step((*self._base(), "push", "--quiet", "--tls-verify=false", image, f"docker://{dest}"))

    def plan(self, t: Target) -> Plan:
        image = f"localhost/bench-{t.workload.key}:run{t.run}"
        if t.workload.kind is Kind.MULTI:
            # As the anchors ran it (shared/anchors.md: --layers, --manifest): the w6 ratio
            # kaniko/buildah holds only against the same buildah command.
            build = self._build(t, True, ["--platform", ",".join(t.workload.platforms),
                                          "--manifest", image])
            push = Step((*self._base(), "manifest", "push", "--quiet", "--all", "--tls-verify=false",
                         image, f"docker://{t.destination(self.name)}"))
            return Plan((), (build, push), t.destination(self.name))
        if t.workload.kind is Kind.REBUILD:
            warm = (self._build(t, True, ["-t", image]),
                    self._push(image, t.destination(self.name, "-warm")))
            timed = (self._build(t, True, ["-t", image]),
                     self._push(image, t.destination(self.name)))
            return Plan(warm, timed, t.destination(self.name))
        return Plan((), (self._build(t, False, ["-t", image, *_platform(t, "--platform")]),
                         self._push(image, t.destination(self.name))), t.destination(self.name))


class Ours:
    name = "ours"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.exe = ourcli.executable()

    def unavailable(self, kind: Kind) -> str | None:
        return ourcli.unavailable("build" if kind is Kind.MULTI else "executor")

    def _insecure(self, sub: str, registry: str) -> list[str]:
        return ourcli.insecure_flags(sub, [registry])

    def _env(self) -> tuple[tuple[str, str], ...]:
        return (("MULTIARCH_CACHE_DIR", str(self.work / "cache")),)

    def _launch(self, t: Target) -> tuple[str, ...]:
        """How our command starts (the container side runs it in podman)."""
        return (self.exe,)

    def _context(self, t: Target) -> str:
        """The context dir as our command sees it."""
        return str(t.context)

    def _executor(self, t: Target, dest: str, cache: bool) -> Step:
        args = t.build_arg_flags()
        extra = ["--cache=true", f"--cache-repo={t.registry}/bench/{t.workload.key}-cache"] if cache else []
        ctx = self._context(t)
        return Step((*self._launch(t), "executor", "--context", ctx, "--dockerfile",
                     f"{ctx}/Dockerfile", "--destination", dest,
                     *_platform(t, "--custom-platform"), *self._insecure("executor", t.registry),
                     *args, *extra), self._env())

    def plan(self, t: Target) -> Plan:
        if t.workload.kind is Kind.MULTI:
            args, ctx = t.build_arg_flags(), self._context(t)
            # json progress: the suite reads when each platform ran from its events
            return Plan((), (Step((*self._launch(t), "build", "--platform",
                                   ",".join(t.workload.platforms), "-t", t.destination(self.name),
                                   "-f", f"{ctx}/Dockerfile", "--progress", "json",
                                   *self._insecure("build", t.registry), *args, ctx),
                                  self._env()),), t.destination(self.name))
        if t.workload.kind is Kind.REBUILD:
            # A CI runner starts empty: the timed rebuild has only the registry cache.
            return Plan((self._executor(t, t.destination(self.name, "-warm"), cache=True),),
                        (self._executor(t, t.destination(self.name), cache=True),),
                        t.destination(self.name), between=True)
        return Plan((), (self._executor(t, t.destination(self.name), cache=False),),
                    t.destination(self.name))


def _platform(t: Target, flag: str) -> list[str]:
    """The platform flag for a single-platform build that is not the host's."""
    return [flag, t.workload.platforms[0]] if t.workload.emulated else []
