"""Runners build one platform each and hand back where the built image is.

`local`: this host, in-process (natively or QEMU-emulated); `ssh`: a remote host through the
system ssh client; `gitlab`: a job of a child pipeline (`multiarch ci gitlab`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.build.report import BuildReport
from builder.transports import Location
from multiarch.plan import PlatformJob


@dataclass(frozen=True)
class JobResult:
    job: PlatformJob
    report: BuildReport
    image: Location
    """Where the built image can be read: a per-platform OCI layout, or the registry
    repository it was pushed to by digest (ssh runner)."""
    duration_s: float


def read_report(path: Path) -> BuildReport:
    return BuildReport.model_validate_json(path.read_bytes())
