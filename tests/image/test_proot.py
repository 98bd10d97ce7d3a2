"""--isolation proot inside multiarch's own image under podman (default capabilities and
seccomp profile): the debug image is busybox plus /multiarch, so PRoot — and for arm64 steps
the static QEMU it runs them with — must come from the bundle. RUN steps see the container's
/proc and /dev, each layer holds only what its step changed, and apt-get works offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.localdeb import PROBE_FILE, PROBE_TEXT, probe_deb
from tests.fixtures.project_image import ProjectImage
from tests.image.test_container_root import (
    _build_in_container,
    _file,
    _layer_paths,
    _tag_single,
)

DOCKERFILE = """FROM oci:/base:busybox
RUN ls /proc/self/fd > /fds.txt && readlink /proc/self/exe > /exe.txt \\
 && head -c 8 /dev/urandom | wc -c > /rand.txt && echo discarded > /dev/null && uname -m > /arch.txt
"""


@pytest.mark.parametrize(("platform", "machine"), [("linux/amd64", "x86_64"),
                                                   ("linux/arm64", "aarch64")])  # fmt: skip
def test_proot_steps_in_the_project_image(project_image: ProjectImage, tmp_path: Path,
                                          platform: str, machine: str) -> None:  # fmt: skip
    out = _build_in_container(project_image, tmp_path, DOCKERFILE,
                              "multiarch executor --context /workspace --no-push "
                              "--oci-layout-path /out/img --isolation proot "
                              f"--custom-platform {platform}")  # fmt: skip
    _tag_single(out / "img", "t")
    arch = platform.split("/")[1]
    assert _layer_paths(out / "img", "t", arch)[1:] == [
        ["arch.txt", "exe.txt", "fds.txt", "rand.txt"]
    ]
    assert _file(out / "img", "t", arch, "fds.txt").split()[:3] == ["0", "1", "2"]
    assert _file(out / "img", "t", arch, "exe.txt") == "/bin/busybox\n"
    assert _file(out / "img", "t", arch, "rand.txt").strip() == "8"
    assert _file(out / "img", "t", arch, "arch.txt") == f"{machine}\n"


def test_apt_get_under_proot_in_the_project_image(project_image: ProjectImage, debian_image: str,
                                                  tmp_path: Path) -> None:  # fmt: skip
    """apt's methods stay root under the bundle's PRoot (they would drop to _apt, whom PRoot
    cannot follow without CAP_SYS_PTRACE); offline, a local .deb; no drop-in in the layer."""
    registry = debian_image.split("/", 1)[0]
    (tmp_path / "context").mkdir()
    probe_deb(tmp_path / "context" / "probe.deb")
    dockerfile = (f"FROM {debian_image}\n"
                  "COPY probe.deb /tmp/\n"
                  "RUN timeout 120 apt-get install -y -qq /tmp/probe.deb && rm /tmp/probe.deb "
                  f"&& cat /{PROBE_FILE} > /installed\n")  # fmt: skip
    out = _build_in_container(project_image, tmp_path, dockerfile,
                              "multiarch executor --context /workspace --no-push "
                              f"--insecure-registry {registry} "
                              "--oci-layout-path /out/img --isolation proot")  # fmt: skip
    _tag_single(out / "img", "t")
    run = _layer_paths(out / "img", "t", "amd64")[-1]
    assert {PROBE_FILE, "installed", "var/lib/dpkg/status"} <= set(run)
    assert not [p for p in run if p.startswith("etc/apt")]
    assert _file(out / "img", "t", "amd64", "installed") == PROBE_TEXT
