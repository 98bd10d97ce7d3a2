"""`./tasks image`: both targets for both platforms in one OCI layout, checked by skopeo and
umoci, and run by podman the way an unprivileged CI runner starts a job."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures.project_image import ProjectImage, podman_run

ARCHES = ["amd64", "arm64"]
TARGETS = ["release", "debug"]


def _skopeo(*args: str) -> dict[str, object]:
    done = subprocess.run(["skopeo", "inspect", *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("target", TARGETS)
def test_layout_holds_an_index_of_both_platforms(project_image: ProjectImage, target: str) -> None:
    index = _skopeo("--raw", f"oci:{project_image.layout}:{target}")
    platforms = [m["platform"]["architecture"] for m in index["manifests"]]  # type: ignore[index]
    assert sorted(platforms) == ARCHES
    tags = subprocess.run(["umoci", "ls", "--layout", str(project_image.layout)],
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert sorted(tags) == ["debug", "release"]


@pytest.mark.parametrize("arch", ARCHES)
def test_release_is_the_bundle_alone(project_image: ProjectImage, arch: str) -> None:
    config = _skopeo("--override-arch", arch, "--config", f"oci:{project_image.layout}:release")
    assert config["architecture"] == arch
    assert config["config"]["Entrypoint"] == ["/multiarch/bin/multiarch"]  # type: ignore[index]
    image = project_image.podman_image("release", arch)
    done = podman_run(image, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("multiarch, version")


@pytest.mark.parametrize("arch", ARCHES)
def test_debug_has_a_shell_and_the_builder(project_image: ProjectImage, arch: str) -> None:
    image = project_image.podman_image("debug", arch)
    done = podman_run(image, "-c", "uname -m && multiarch --version")
    assert done.returncode == 0, done.stderr
    machine = {"amd64": "x86_64", "arm64": "aarch64"}[arch]
    assert done.stdout.split("\n")[:2] == [machine, "multiarch, version 0.1.0"]
