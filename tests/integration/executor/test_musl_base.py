"""A musl base (no glibc anywhere, /lib holds only musl's loader) with namespace isolation on
this VM: RUN in shell form through the base's static busybox, RUN in exec form on a base with
no shell at all, and the dynamic musl program really runs through musl's loader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.events import discard
from builder.executor.run import run_executor
from builder.options import ExecutorOptions

DOCKERFILE = """\
FROM oci:{layout}:shell AS shell
RUN probe /shell.txt && ls /lib > /lib.txt && ls /proc/self/fd > /fds.txt
FROM oci:{layout}:bare
COPY --from=shell /shell.txt /lib.txt /fds.txt /
RUN ["/usr/bin/probe", "/exec.txt"]
"""


def test_musl_bases_with_and_without_a_shell(tmp_path: Path, musl_layout: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(layout=musl_layout))
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    out = tmp_path / "out"
    run_executor(ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                                 no_push=True, oci_layout_path=str(out),
                                 isolation="namespace"), discard)  # fmt: skip
    subprocess.run(["umoci", "unpack", "--image", f"{out}:latest", str(tmp_path / "bundle")],
                   check=True, capture_output=True)  # fmt: skip
    rootfs = tmp_path / "bundle" / "rootfs"
    loader = "loader=/lib/ld-musl-x86_64.so.1"
    assert (rootfs / "shell.txt").read_text() == f"exe=/usr/bin/probe {loader}\n"
    assert (rootfs / "exec.txt").read_text() == f"exe=/usr/bin/probe {loader}\n"
    assert (rootfs / "lib.txt").read_text() == "ld-musl-x86_64.so.1\n"
    assert (rootfs / "fds.txt").read_text().split()[:3] == ["0", "1", "2"]
    assert sorted(p.name for p in rootfs.iterdir()) == [
        "exec.txt", "fds.txt", "lib", "lib.txt", "shell.txt", "usr"]
