"""The gitlab runner: `multiarch ci gitlab SPEC.yaml > child-pipeline.yml`.

The child pipeline has one job per platform, on the runners tagged for it (the spec's
`runner_tags`; never guessed, GitLab's own arm64 tags differ by tier), each running
`multiarch executor` natively and keeping its JSON result as an artifact, and a final job
that `needs:` them all and runs `multiarch manifest push from-results`. Each platform image
is pushed by digest only (`--push-by-digest`: no tag to clean up afterwards), its result
file names the digest; the index goes under the spec's tags. The parent pipeline runs it with

    build-image:
      trigger:
        include:
          - artifact: child-pipeline.yml
            job: generate-pipeline
        strategy: depend
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from builder.errors import UsageError
from builder.reference import parse_reference
from multiarch.plan import BuildPlan, PlatformJob, make_plan
from multiarch.spec import BuildSpec, load_build_spec

RESULTS_DIR = "multiarch-results"


def _project_path(path: Path) -> str:
    """A path inside the project, as a job sees it (the pipeline runs in $CI_PROJECT_DIR)."""
    relative = os.path.relpath(path.resolve(), Path.cwd().resolve())
    if relative.startswith(".."):
        raise UsageError(f"{path} is outside the project directory {Path.cwd()}")
    return "$CI_PROJECT_DIR" if relative == "." else f"$CI_PROJECT_DIR/{relative}"


def _shell_word(word: str) -> str:
    """Quote for the job's shell, keeping $CI_PROJECT_DIR (and what follows it, a path in
    the project) expandable: `NAME=$CI_PROJECT_DIR/dir` becomes `NAME="$CI_PROJECT_DIR/dir"`."""
    head, marker, tail = word.partition("$CI_PROJECT_DIR")
    if not marker:
        return shlex.quote(word)
    return (shlex.quote(head) if head else "") + f'"{marker}{tail}"'



def job_name(job: PlatformJob) -> str:
    return f"build:{job.slug}"


def build_job(plan: BuildPlan, job: PlatformJob, repository: str) -> dict[str, Any]:
    spec = plan.spec
    flags = plan.flags_for(
        job,
        context=_project_path(spec.context),
        dockerfile=_project_path(job.dockerfile),
        local_path=lambda name, path: _project_path(path),
    )
    for host in spec.gitlab.insecure_registries:
        flags += ["--insecure-registry", host]
    flags += _sign_key_flags(spec)
    result = f"{RESULTS_DIR}/{job.slug}.json"
    words = [spec.gitlab.executor, "executor", *map(_shell_word, flags)]
    words += ["--push-by-digest", shlex.quote(repository), "--json-result", result]
    command = " ".join(words)
    body: dict[str, Any] = {
        "stage": "build",
        "script": [f"mkdir -p {RESULTS_DIR}", command],
        "artifacts": {"paths": [result], "expire_in": "1 day"},
    }
    if job.runner_tags:
        body["tags"] = list(job.runner_tags)
    if spec.allow_missing:
        body["allow_failure"] = True
    return body


def _sign_key_flags(spec: BuildSpec) -> list[str]:
    """A job reads its signing key from a CI/CD variable (masked; "File" or "Variable" type):
    `sign_key: env://NAME` names it. Without one, each job signs when $MULTIARCH_SIGN_KEY is
    set. A file path would mean a key committed to the repository: refused."""
    if spec.sign_key is None:
        return []
    if not spec.sign_key.startswith("env://"):
        raise UsageError(
            f"sign_key: {spec.sign_key!r}: a GitLab job reads its key from a CI/CD variable",
            hint="sign_key: env://NAME (a masked variable of File or Variable type)",
        )
    return ["--sign-key", spec.sign_key]


def index_job(plan: BuildPlan, target: str) -> dict[str, Any]:
    spec = plan.spec
    results = [f"{RESULTS_DIR}/{job.slug}.json" for job in plan.jobs]
    command = [spec.gitlab.executor, "manifest", "push", "from-results"]
    command += ["--target", target, "--type", spec.index_type]
    if spec.tags:
        command += ["--tags", ",".join(spec.tags)]
    if spec.allow_missing:
        command.append("--ignore-missing")
    if spec.gitlab.insecure_registries:
        command.append("--insecure")
    for key, value in spec.annotations_for("index", "").items():
        command += ["--annotation", f"{key}={value}"]
    command += ["--digest-file", "image-digest.txt", *results]
    return {
        "stage": "index",
        "needs": [{"job": job_name(job), "artifacts": True} for job in plan.jobs],
        "script": [
            " ".join(shlex.quote(part) for part in command),
            'echo "IMAGE_DIGEST=$(cat image-digest.txt)" > build.env',
        ],
        "artifacts": {"reports": {"dotenv": "build.env"}},
    }


def child_pipeline(spec: BuildSpec) -> dict[str, Any]:
    if spec.image is None:
        raise UsageError("a GitLab child pipeline pushes to a registry: set image: in the spec")
    reference = parse_reference(spec.image)
    target = str(reference.with_tag(reference.tag or (spec.tags[0] if spec.tags else "latest")))
    plan = make_plan(spec)
    if any(spec.annotations_for("manifest-descriptor", job.name) for job in plan.jobs):
        raise UsageError(
            "manifest-descriptor: annotations are not written by `manifest push from-results`",
            hint="use manifest: (on each image) or index: annotations in a GitLab pipeline",
        )
    pipeline: dict[str, Any] = {"stages": ["build", "index"]}
    if spec.gitlab.image:
        pipeline["default"] = {"image": {"name": spec.gitlab.image, "entrypoint": [""]}}
    for job in plan.jobs:
        pipeline[job_name(job)] = build_job(plan, job, str(reference.repository_ref()))
    pipeline["index"] = index_job(plan, target)
    return pipeline


@click.group("ci")
def ci() -> None:
    """CI integration: pipelines generated from a build spec."""


@ci.command("gitlab")
@click.argument("spec_file", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write here instead of stdout."
)
def gitlab(spec_file: Path, output: Path | None) -> None:
    """Write a GitLab child pipeline: one native job per platform, then the index."""
    spec = load_build_spec(spec_file)
    text = (
        "# generated by `multiarch ci gitlab`; run it with trigger: include: artifact:\n"
        + yaml.safe_dump(child_pipeline(spec), sort_keys=False, width=1000)
    )
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)
