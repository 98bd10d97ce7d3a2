"""Which runner builds which platform, and the `multiarch executor` flags each job runs with.

One job per platform of the spec, in spec order. Every runner runs the same executor flags
(so a platform builds the same way on this host, over ssh, or in a GitLab job); only the
context path, the Dockerfile path and where the result goes differ per runner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.oci.models import Platform
from builder.oci.platform import format_platform
from builder.reference import Reference, parse_reference
from multiarch.spec import BuildSpec, RunnerTarget, SecretSpec


@dataclass(frozen=True)
class PlatformJob:
    position: int
    platform: Platform
    runner: RunnerTarget
    dockerfile: Path
    build_args: Mapping[str, str]
    runner_tags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return format_platform(self.platform)

    @property
    def slug(self) -> str:
        """`linux-arm64`, `linux-arm-v7`: for file names and job names."""
        return self.name.replace("/", "-")


@dataclass(frozen=True)
class BuildPlan:
    spec: BuildSpec
    jobs: tuple[PlatformJob, ...]
    extra_flags: tuple[str, ...] = field(default=())
    """Executor flags from the command line (registry options, isolation)."""
    sign_key: str | None = None
    """Where the attestations' signing key is (a file or env://NAME), checked before the
    build; each runner hands it to its executor its own way, never on a remote command line."""

    def push_repository(self) -> Reference | None:
        """The repository every platform's image is pushed to by digest (the spec's image), so
        publishing only adds the index; None when the spec names no registry image."""
        return parse_reference(self.spec.image).repository_ref() if self.spec.image else None

    def flags_for(
        self,
        job: PlatformJob,
        *,
        context: str,
        dockerfile: str,
        local_path: Callable[[str, Path], str] = lambda name, path: str(path),
        secret_flag: Callable[[SecretSpec], str] = SecretSpec.as_flag,
    ) -> list[str]:
        """The executor flags that build `job`'s platform (outputs excluded); `local_path`
        names a local named context's directory, `secret_flag` a secret's source, as the
        runner's executor sees them."""
        spec = self.spec
        flags = ["--context", context, "--dockerfile", dockerfile, "--custom-platform", job.name]
        for name, where in spec.contexts.items():
            local = spec.local_contexts().get(name)
            where = where if local is None else local_path(name, local)
            flags += ["--build-context", f"{name}={where}"]
        if spec.target:
            flags += ["--target", spec.target]
        for key, value in job.build_args.items():
            flags += ["--build-arg", f"{key}={value}"]
        for key, value in spec.labels.items():
            flags += ["--label", f"{key}={value}"]
        for key, value in spec.annotations_for("manifest", job.name).items():
            flags += ["--annotation", f"{key}={value}"]
        for secret in spec.secrets:
            flags += ["--secret", secret_flag(secret)]
        flags += spec.attest_flags()
        return flags + spec.run_flags() + spec.cache_flags() + list(self.extra_flags)


def make_plan(
    spec: BuildSpec, extra_flags: tuple[str, ...] = (), sign_key: str | None = None
) -> BuildPlan:
    jobs = tuple(
        PlatformJob(
            position=position,
            platform=entry.platform,
            runner=entry.runner,
            dockerfile=spec.dockerfile_for(entry),
            build_args=spec.build_args_for(entry),
            runner_tags=tuple(entry.runner_tags),
        )
        for position, entry in enumerate(spec.platforms)
    )
    return BuildPlan(spec, jobs, extra_flags, sign_key)
