"""Overlay steps and walk snapshots (the fallback without overlayfs) build the same image."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.executor.run import run_executor
from builder.events import discard
from builder.options import ExecutorOptions

DOCKERFILE = """\
FROM oci:{layout}:latest AS base
RUN mkdir -p /a/b && echo 1 > /a/b/f && rm /bin/vi && echo x > /etc/motd
COPY ctx.txt /a/
WORKDIR /w
RUN rm -r /a/b && ln -s /etc/motd /w/motd
FROM base
COPY --from=base /a /copied
"""


def test_overlay_and_walk_give_one_digest(tmp_path: Path, busybox_layout: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "ctx.txt").write_text("from the context\n")
    (context / "Dockerfile").write_text(DOCKERFILE.format(layout=busybox_layout))
    digests = {}
    for mode in ("overlay", "walk"):
        monkeypatch.setenv("MULTIARCH_SNAPSHOTTER", mode)
        monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / f"store-{mode}"))
        report = run_executor(
            ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"), no_push=True,
                            oci_layout_path=str(tmp_path / f"out-{mode}"), reproducible=True),
            discard,
        )
        digests[mode] = report.manifest.digest
        assert [s.instruction.split()[0] for s in report.steps] == ["FROM", "RUN", "COPY", "WORKDIR", "RUN", "COPY"]
    assert digests["overlay"] == digests["walk"]
