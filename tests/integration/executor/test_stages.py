"""Multi-stage builds: independent stages build at the same time and feed the final one;
a stage FROM a stage runs that stage's ONBUILD triggers; only needed stages run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.executor.run import run_executor
from builder.events import discard
from builder.options import ExecutorOptions

DOCKERFILE = """\
FROM oci:{layout}:latest AS a
RUN echo a > /a
FROM oci:{layout}:latest AS b
RUN echo b > /b
FROM oci:{layout}:latest AS trig
ONBUILD RUN echo from-trigger > /t
FROM trig AS child
FROM oci:{layout}:latest AS never
RUN exit 1
FROM oci:{layout}:latest
COPY --from=a /a /out/
COPY --from=b /b /out/
COPY --from=child /t /out/
"""


def test_parallel_stages_and_triggers(tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(layout=busybox_layout))
    layout = tmp_path / "out"
    report = run_executor(ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                                          no_push=True, oci_layout_path=str(layout)), discard)
    assert {s.stage for s in report.steps} == {"a", "b", "trig", "child", "stage-5"}
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    out = tmp_path / "bundle/rootfs/out"
    assert sorted(p.read_text() for p in out.iterdir()) == ["a\n", "b\n", "from-trigger\n"]
