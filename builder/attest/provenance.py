"""SLSA provenance v1 of one platform image, as buildx writes it in spirit: `min` names what
was built from what (Dockerfile path and digest, target, platform, base images by digest, the
CI commit); `max` adds the Dockerfile's text, the build arguments and the context's digest.

A build argument that carries a secret never appears: one whose value holds a registered
secret (a --secret value, a registry password) or whose name says it is one (BuildKit's
SecretsUsedInArgOrEnv words). Secret mount ids and their values are not build arguments and
are never read here. With SOURCE_DATE_EPOCH (or --reproducible) both timestamps are the
epoch, so a reproducible build's provenance is reproducible too.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import quote

from builder.attest.statement import SLSA_PROVENANCE_V1, Predicate, multiarch_version
from builder.log import redact

ProvenanceMode = Literal["min", "max"]

BUILD_TYPE = "urn:multiarch:buildtype:dockerfile:v1"
BUILDER_ID = "pkg:pypi/multiarch"
_SECRET_NAME = re.compile(
    r"apikey|auth|credential|key|passwd|password|pword|secret|token", re.IGNORECASE
)


@dataclass(frozen=True)
class BaseImageUse:
    """An image the build pulled (FROM, COPY --from): its name and platform manifest digest."""

    name: str
    digest: str


@dataclass(frozen=True)
class BuildFacts:
    """What one platform build knows about itself when its image is written."""

    dockerfile_path: str
    dockerfile: bytes
    platform: str
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    base_images: Sequence[BaseImageUse] = ()
    context_digest: str | None = None
    started: datetime | None = None
    finished: datetime | None = None
    epoch: datetime | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    """The build's environment: GitLab's CI_* variables name the source commit."""


def provenance(facts: BuildFacts, mode: ProvenanceMode = "min") -> Predicate:
    """The SLSA provenance v1 predicate of the build `facts` describe."""
    request: dict[str, Any] = {"platform": facts.platform}
    if facts.target:
        request["target"] = facts.target
    if mode == "max":
        request["buildArgs"] = public_build_args(facts.build_args)
    external: dict[str, Any] = {
        "configSource": _config_source(facts),
        "request": request,
    }
    body = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {"provenanceMode": mode},
            "resolvedDependencies": _dependencies(facts, mode),
        },
        "runDetails": {
            "builder": {"id": f"{BUILDER_ID}@{multiarch_version()}",
                        "version": {"multiarch": multiarch_version()}},
            "metadata": _metadata(facts),
        },
    }
    return Predicate(SLSA_PROVENANCE_V1, body)


def public_build_args(build_args: Mapping[str, str]) -> dict[str, str]:
    """The build arguments without any that carries, or is named like, a secret."""
    return {
        name: value
        for name, value in sorted(build_args.items())
        if not _SECRET_NAME.search(name) and redact(value) == value
    }


def _config_source(facts: BuildFacts) -> dict[str, Any]:
    source: dict[str, Any] = {
        "path": facts.dockerfile_path,
        "digest": {"sha256": hashlib.sha256(facts.dockerfile).hexdigest()},
    }
    git = _git_source(facts.environ)
    if git is not None:
        source["uri"] = git["uri"]
    return source


def _dependencies(facts: BuildFacts, mode: ProvenanceMode) -> list[dict[str, Any]]:
    dependencies: list[dict[str, Any]] = []
    git = _git_source(facts.environ)
    if git is not None:
        dependencies.append(git)
    seen: set[tuple[str, str]] = set()
    for base in facts.base_images:
        if (base.name, base.digest) in seen:
            continue
        seen.add((base.name, base.digest))
        algorithm, _, value = base.digest.partition(":")
        dependencies.append({
            "uri": _image_purl(base.name, facts.platform),
            "name": base.name,
            "digest": {algorithm: value},
        })
    if mode == "max":
        if facts.context_digest:
            algorithm, _, value = facts.context_digest.partition(":")
            dependencies.append({"name": "context", "digest": {algorithm: value}})
        dependencies.append({
            "name": facts.dockerfile_path,
            "digest": {"sha256": hashlib.sha256(facts.dockerfile).hexdigest()},
            "content": base64.b64encode(facts.dockerfile).decode(),
            "mediaType": "text/plain",
        })
    return dependencies


def _git_source(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """GitLab CI's project URL and commit, the way SLSA names a git source."""
    commit = environ.get("CI_COMMIT_SHA")
    project = environ.get("CI_PROJECT_URL")
    if not commit or not project:
        return None
    return {"uri": f"git+{project}@{commit}", "digest": {"gitCommit": commit}}


def _image_purl(name: str, platform: str) -> str:
    """`pkg:docker/NAME?platform=...`, the package URL of an image as BuildKit writes it."""
    return f"pkg:docker/{quote(name, safe='/:@')}?platform={quote(platform, safe='')}"


def _metadata(facts: BuildFacts) -> dict[str, Any]:
    started, finished = (facts.epoch, facts.epoch) if facts.epoch else (
        facts.started, facts.finished
    )
    metadata: dict[str, Any] = {}
    if started is not None:
        metadata["startedOn"] = _rfc3339(started)
    if finished is not None:
        metadata["finishedOn"] = _rfc3339(finished)
    job = facts.environ.get("CI_JOB_URL")
    if job:
        metadata["invocationId"] = job
    return metadata


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

