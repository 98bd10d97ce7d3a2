"""The local runner: the executor in this process, natively or QEMU-emulated. With a
registry image in the spec, each platform's image is pushed there by digest as it finishes.

A platform the host cannot run is checked for a registered emulator before the build
starts, so a missing QEMU fails at once with the `multiarch qemu install` hint.
"""

from __future__ import annotations

import time
from pathlib import Path

from builder import execute, executor_options
from builder.events import EventSink
from builder.sandbox import ensure_emulator, runs_natively
from multiarch.plan import BuildPlan, PlatformJob
from multiarch.runners import JobResult, built_image


def emulation_note(job: PlatformJob) -> str:
    return "native" if runs_natively(job.platform) else "QEMU"


def run_local(plan: BuildPlan, job: PlatformJob, workdir: Path, on_event: EventSink) -> JobResult:
    """Build `job`'s platform; its steps go to `on_event`."""
    if not runs_natively(job.platform):
        ensure_emulator(job.platform)
    layout = workdir / job.slug
    repository = plan.push_repository()
    argv = plan.flags_for(job, context=str(plan.spec.context), dockerfile=str(job.dockerfile))
    if repository is None:
        argv += ["--no-push", "--oci-layout-path", str(layout)]
    else:  # base layers are mounted, not re-uploaded, and publishing only adds the index
        argv += ["--push-by-digest", str(repository)]
    if plan.sign_key:  # in this process: the file or variable is right here
        argv += ["--sign-key", plan.sign_key]
    # The executor's own flag parser turns the flags into options: one definition of them.
    options = executor_options(argv)
    started = time.monotonic()
    report = execute(options, on_event)
    image = built_image(repository, layout, report)
    return JobResult(job, report, image, time.monotonic() - started)
