"""The SBOM reads the target stage's final root filesystem, with what its last RUN wrote and
without what it removed, under the overlay and the walk snapshotters alike, although it is
read on a worker thread while the image is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import builder
from builder.attest import list_attestations, read_attestation
from builder.transports import TransportContext

SITE = "/usr/lib/python3/site-packages"
DIST = "printf 'Metadata-Version: 2.1\\nName: {0}\\nVersion: 1.0\\n' > {1}/{0}-1.0.dist-info/METADATA"


def dist(name: str) -> str:
    return f"mkdir -p {SITE}/{name}-1.0.dist-info && " + DIST.format(name, SITE)


@pytest.mark.parametrize("snapshotter", ["overlay", "walk"])
def test_the_sbom_lists_the_target_stages_final_files(
    tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch, snapshotter: str
) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("MULTIARCH_SNAPSHOTTER", snapshotter)
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM oci:{busybox_layout}:latest AS build\n"
        f"RUN {dist('from_build')} && {dist('removed_later')}\n"
        "FROM build AS final\n"
        f"RUN rm -r {SITE}/removed_later-1.0.dist-info && {dist('from_final')}\n"
        f"FROM oci:{busybox_layout}:latest AS unused\nRUN {dist('unused_stage')}\n"
    )
    out = f"oci:{tmp_path / 'out'}"
    builder.build(context, destinations=[out], target="final",
                  options=builder.ExecutorOptions(sbom=True))
    records = list_attestations(f"{out}:latest", TransportContext())
    assert [r.predicate_type for r in records] == ["https://spdx.dev/Document"]
    sbom = json.loads(read_attestation(f"{out}:latest", records[0], TransportContext()))["predicate"]
    names = sorted(p["name"] for p in sbom["packages"] if p["SPDXID"].startswith("SPDXRef-pypi"))
    assert names == ["from_build", "from_final"]
