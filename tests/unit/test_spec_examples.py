"""The worked examples in manifests/ stay valid: each loads, and the CI ones generate a
pipeline GitLab's schema accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from multiarch.runners.gitlab import child_pipeline
from multiarch.spec import SSHRunner, load_build_spec, load_manifest_spec

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
BUILD_SPECS = ["app.yaml", "multiarch.yaml", "remote-and-ci.yaml", "gitlab-child.yaml"]


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in MANIFESTS.glob("*.yaml")) == sorted([*BUILD_SPECS, "manifest-tool.yaml"])


@pytest.mark.parametrize("name", BUILD_SPECS)
def test_build_examples_load(name: str) -> None:
    spec = load_build_spec(MANIFESTS / name, env={"CI_COMMIT_TAG": "v1.2.3"})
    assert spec.platforms


def test_remote_example_uses_ssh_for_arm64() -> None:
    spec = load_build_spec(MANIFESTS / "remote-and-ci.yaml", env={})
    assert spec.platforms[1].runner == SSHRunner(host="arm64-host.example.com", user="builder", port=22)
    assert spec.tags == ["latest", "dev"]


def test_manifest_tool_example_loads() -> None:
    spec = load_manifest_spec(MANIFESTS / "manifest-tool.yaml")
    assert [m.platform is None for m in spec.manifests] == [False, False, True]


def test_gitlab_example_pipeline_is_schema_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(MANIFESTS.parent)
    spec = load_build_spec(MANIFESTS / "gitlab-child.yaml", env={"CI_COMMIT_TAG": "v1"})
    out = tmp_path / "child.yml"
    out.write_text(yaml.safe_dump(child_pipeline(spec), sort_keys=False))
    done = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
