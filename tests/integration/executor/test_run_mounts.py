"""RUN --mount=type=cache keeps its contents between builds that share a store; `locked`
and `private` sharing take the cache's lock."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.executor.run import run_executor
from builder.events import discard
from builder.options import ExecutorOptions


@pytest.mark.parametrize("sharing", ["shared", "locked", "private"])
def test_cache_mount_persists_between_builds(tmp_path: Path, busybox_layout: Path,
                                             monkeypatch: pytest.MonkeyPatch, sharing: str) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    counts = []
    for build in range(2):
        context = tmp_path / f"ctx{build}"
        context.mkdir()
        (context / "Dockerfile").write_text(
            f"FROM oci:{busybox_layout}:latest\nENV BUILD={build}\n"
            f"RUN --mount=type=cache,id=shared-cache,target=/c,sharing={sharing} "
            "echo $BUILD >> /c/log && wc -l < /c/log > /count\n"
        )
        layout = tmp_path / f"out{build}"
        run_executor(ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                                     no_push=True, oci_layout_path=str(layout)), discard)
        bundle = tmp_path / f"bundle{build}"
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], check=True,
                       capture_output=True)
        counts.append((bundle / "rootfs/count").read_text().strip())
        assert not (bundle / "rootfs/c/log").exists()  # the cache never reaches a layer
    assert counts == ["1", "2"]
