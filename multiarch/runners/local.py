"""The local runner: `multiarch executor` in this process, natively or QEMU-emulated.

A platform the host cannot run is checked for a registered emulator before the build
starts, so a missing QEMU fails at once with the `multiarch qemu install` hint.
"""

from __future__ import annotations

import time
from pathlib import Path

from builder.transports import Location
from multiarch.plan import BuildPlan, PlatformJob
from multiarch.runners import JobResult


def emulation_note(job: PlatformJob) -> str:
    from builder.sandbox import runs_natively

    return "native" if runs_natively(job.platform) else "QEMU"


def run_local(plan: BuildPlan, job: PlatformJob, workdir: Path) -> JobResult:
    from builder.build import run_executor  # type: ignore[attr-defined]
    from builder.cli import executor, options_from_flags
    from builder.sandbox import ensure_emulator, runs_natively

    if not runs_natively(job.platform):
        ensure_emulator(job.platform)
    layout = workdir / job.slug
    argv = plan.flags_for(job, context=str(plan.spec.context), dockerfile=str(job.dockerfile))
    argv += ["--no-push", "--oci-layout-path", str(layout), "--progress", "plain"]
    # The executor's own flag parser turns the flags into options: one definition of them.
    with executor.make_context("executor", argv) as ctx:
        options = options_from_flags(ctx.params)
    started = time.monotonic()
    report = run_executor(options)
    return JobResult(job, report, Location("oci", path=layout), time.monotonic() - started)
