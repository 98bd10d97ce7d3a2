"""The attestation producers' contract (the SBOM one reads it): when attestations are made,
`root()` is the target stage's final root filesystem, with what its last RUN wrote, under
the overlay and the walk snapshotters alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

import builder
from builder.attest.provenance import BuildFacts
from builder.attest.statement import Predicate
from builder.executor import run
from builder.executor.attestations import AttestationSettings, predicates
from builder.option_choices import Provenance


@pytest.mark.parametrize("snapshotter", ["overlay", "walk"])
def test_root_holds_the_target_stages_files(
    tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch, snapshotter: str
) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("MULTIARCH_SNAPSHOTTER", snapshotter)
    seen: dict[str, str] = {}

    def reading_root(settings: AttestationSettings, facts: Callable[[], BuildFacts],
                     root: Callable[[], Path], image_name: str,
                     epoch: datetime | None) -> list[Predicate]:
        seen["marker"] = (root() / "marker").read_text()
        seen["busybox"] = str((root() / "bin" / "busybox").exists())
        return predicates(settings, facts, root, image_name, epoch)

    monkeypatch.setattr(run, "predicates", reading_root)
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM oci:{busybox_layout}:latest AS build\nRUN echo built > /marker\n"
        "FROM build\nRUN echo final > /marker\n"
    )
    options = builder.ExecutorOptions(provenance=Provenance.MIN)
    builder.build(context, destinations=[f"oci:{tmp_path / 'out'}"], options=options)
    assert seen == {"marker": "final\n", "busybox": "True"}
