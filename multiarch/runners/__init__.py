"""Runners build one platform each and hand back where the built image is.

`local`: this host, in-process (natively or QEMU-emulated); `ssh`: a remote host through the
system ssh client; `gitlab`: a job of a child pipeline (`multiarch ci gitlab`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder import BuildReport
from builder.reference import Reference
from builder.transports import Location
from multiarch.plan import PlatformJob


@dataclass(frozen=True)
class JobResult:
    job: PlatformJob
    report: BuildReport
    image: Location
    """Where the built image can be read: the registry repository it was pushed to by
    digest, or (when the spec names no registry image) a per-platform OCI layout."""
    duration_s: float


def built_image(repository: Reference | None, layout: Path, report: BuildReport) -> Location:
    if repository is None:
        return Location("oci", path=layout)
    return Location("docker", reference=repository.with_digest(report.manifest.digest))


def read_report(path: Path) -> BuildReport:
    return BuildReport.model_validate_json(path.read_bytes())
