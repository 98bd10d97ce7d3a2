"""A musl base (no glibc anywhere: /lib holds only musl's loader) in --isolation
container-root inside multiarch's own image under podman without privileges: the base's
files replace the container's, so the builder runs only on its bundled loader, libc and
Python; RUN in shell form through the base's static busybox, and in exec form on a base with
no shell at all."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.project_image import ProjectImage
from tests.image.test_container_root import (
    _build_in_container,
    _file,
    _layer_paths,
    _tag_single,
)

DOCKERFILE = """FROM oci:/musl:shell AS shell
RUN probe /shell.txt && ls /lib > /lib.txt && ls /proc/self/fd > /fds.txt
FROM oci:/musl:bare
COPY --from=shell /shell.txt /lib.txt /fds.txt /
RUN ["/usr/bin/probe", "/exec.txt"]
"""


def test_musl_bases_in_the_container_root(project_image: ProjectImage, musl_layout: Path,
                                          tmp_path: Path) -> None:  # fmt: skip
    out = _build_in_container(project_image, tmp_path, DOCKERFILE,
                              "multiarch executor --context /workspace --no-push "
                              "--oci-layout-path /out/img --isolation container-root",
                              volumes=("-v", f"{musl_layout}:/musl:ro"))  # fmt: skip
    _tag_single(out / "img", "t")
    loader = "loader=/lib/ld-musl-x86_64.so.1"
    assert _file(out / "img", "t", "amd64", "shell.txt") == f"exe=/usr/bin/probe {loader}\n"
    assert _file(out / "img", "t", "amd64", "exec.txt") == f"exe=/usr/bin/probe {loader}\n"
    assert _file(out / "img", "t", "amd64", "lib.txt") == "ld-musl-x86_64.so.1\n"
    assert _file(out / "img", "t", "amd64", "fds.txt").split()[:3] == ["0", "1", "2"]
    # the bare base, then exactly what COPY and RUN changed: nothing of the builder
    assert _layer_paths(out / "img", "t", "amd64")[1:] == [
        ["fds.txt", "lib.txt", "shell.txt"], ["exec.txt"]
    ]
