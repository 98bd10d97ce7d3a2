"""--isolation auto in multiarch's own image under podman with the default capabilities (no
namespaces there): the build uses container-root and says so in one line; on this VM (not the
bundle) auto is left to the sandbox."""

from __future__ import annotations

from pathlib import Path

from builder.executor.autoisolation import resolve_build_isolation
from tests.fixtures.project_image import ProjectImage, podman_run

DOCKERFILE = """FROM oci:/base:busybox
RUN ls /proc/self/fd > /fds.txt
"""


def test_auto_in_the_project_image_picks_container_root(
    project_image: ProjectImage, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    base = project_image.context / ".image-build" / "base"
    volumes = ("-v", f"{context}:/workspace", "-v", f"{base}:/base:ro")
    done = podman_run(project_image.podman_image("debug", "amd64"), "-c",
                      "multiarch executor --context /workspace --no-push --tar-path /tmp/i.tar",
                      extra=volumes)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    picked = [line for line in done.stderr.splitlines() if "isolation auto" in line]
    assert len(picked) == 1 and "isolation auto: using container-root (no namespaces (" in picked[0]


def test_auto_outside_the_project_image_is_left_to_the_sandbox() -> None:
    assert resolve_build_isolation("auto") == "auto"
    assert resolve_build_isolation("chroot") == "chroot"
