"""`multiarch ci gitlab`: the child pipeline is valid for GitLab's schema, and its jobs'
scripts, run in order in a shell as a shell-executor runner would, build both platforms
and push the index (real executor, real registry, checked with skopeo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from builder.attest import list_attestations
from builder.transports import TransportContext
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.tags import referrers_tags, registry_tags

REPO_ROOT = Path(__file__).resolve().parents[2]


def generate(spec: Path, cwd: Path) -> tuple[Path, dict]:
    out = cwd / "child-pipeline.yml"
    subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "ci", "gitlab", str(spec), "-o", str(out)],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out, yaml.safe_load(out.read_text())


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(path)], capture_output=True, text=True
    )


def write_project(tmp_path: Path, base: str, image: str, registry_host: str) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(f"FROM {base}\nRUN uname -m > /arch\n")
    spec = tmp_path / "build.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""
            image: {image}
            tags: [v1, latest]
            context: app
            annotations: {{com.example.pipeline: child}}
            gitlab:
              insecure_registries: [{registry_host}]
            platforms:
              - platform: linux/amd64
                runner: gitlab
                runner_tags: [amd64-runner]
              - platform: linux/arm64
                runner: gitlab
                runner_tags: [arm64-runner]
            """
        ).lstrip()
    )
    return spec


def test_child_pipeline_is_schema_valid_and_its_jobs_build_the_index(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    image = f"{registry.host}/{unique_repo('ci')}"
    spec = write_project(tmp_path, busybox_image, image, registry.host)
    path, pipeline = generate(spec, tmp_path)
    assert check_schema(path).returncode == 0, check_schema(path).stdout
    assert pipeline["build:linux-arm64"]["tags"] == ["arm64-runner"]
    assert [n["job"] for n in pipeline["index"]["needs"]] == ["build:linux-amd64", "build:linux-arm64"]

    # Run the jobs as a shell runner would: build jobs, then the index job with their artifacts.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "multiarch").write_text(f"#!/bin/sh\nexec {sys.executable} -m multiarch.cli \"$@\"\n")
    (bindir / "multiarch").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    env.update(PATH=f"{bindir}:{env['PATH']}", CI_PROJECT_DIR=str(tmp_path), CI_PIPELINE_ID="4242",
               PYTHONPATH=str(REPO_ROOT))  # fmt: skip
    for name in ("build:linux-amd64", "build:linux-arm64", "index"):
        script = "set -e\n" + "\n".join(pipeline[name]["script"])
        done = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{name}:\n{done.stdout}\n{done.stderr}"

    index = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}:v1"],
        check=True, capture_output=True, text=True,
    ).stdout)  # fmt: skip
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]
    assert index["annotations"]["com.example.pipeline"] == "child"
    digest = (tmp_path / "image-digest.txt").read_text().strip()
    assert (tmp_path / "build.env").read_text().strip() == f"IMAGE_DIGEST={digest}"
    # The platform images went by digest, each with its provenance: the spec's tags and the
    # referrers tags of the two images are the only ones in the repository.
    assert "--push-by-digest" in pipeline["build:linux-amd64"]["script"][1]
    assert sorted(registry_tags(registry.url, image.removeprefix(f"{registry.host}/"))) == sorted(
        ["latest", "v1", *referrers_tags(index)]
    )


def test_a_missing_result_fails_the_index_job(tmp_path: Path, registry: RegistryHandle) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "manifest", "push", "from-results", "--insecure",
         "--target", f"{registry.host}/{unique_repo('ci')}:v1", str(tmp_path / "linux-arm64.json")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "linux-arm64" in result.stderr and "no result file" in result.stderr


def test_spec_without_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    spec = tmp_path / "build.yaml"
    spec.write_text("platforms:\n  - {platform: linux/amd64, runner: gitlab}\n")
    done = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "ci", "gitlab", str(spec)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2 and "set image:" in done.stderr


@pytest.mark.parametrize("path", [".gitlab-ci.yml"])
def test_the_projects_own_pipeline_is_schema_valid(path: str) -> None:
    done = check_schema(REPO_ROOT / path)
    assert done.returncode == 0, done.stdout + done.stderr


def _gitlab_ci_local() -> str | None:
    import shutil

    return os.environ.get("GITLAB_CI_LOCAL") or shutil.which("gitlab-ci-local")


def test_child_pipeline_runs_in_gitlab_ci_local(tmp_path: Path, registry: RegistryHandle) -> None:
    tool = _gitlab_ci_local()
    assert tool, "gitlab-ci-local is missing: `./tasks test` installs it (npm)"
    image = f"{registry.host}/{unique_repo('gcl')}"
    project = tmp_path / "project"
    project.mkdir()
    spec = write_project(project, "scratch", image, registry.host)
    (project / "app" / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /Dockerfile\n")
    generate(spec, project)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=project, check=True)
    done = subprocess.run(
        [tool, "--file", "child-pipeline.yml", "--shell-isolation"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    index = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}:v1"],
        check=True, capture_output=True, text=True,
    ).stdout)  # fmt: skip
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]
    assert sorted(registry_tags(registry.url, image.removeprefix(f"{registry.host}/"))) == sorted(
        ["latest", "v1", *referrers_tags(index)]
    )
    # each GitLab job attached its own platform's provenance
    records = list_attestations(f"docker://{image}:v1", TransportContext(registry.options()))
    assert [r.platform for r in records] == ["linux/amd64", "linux/arm64"]
