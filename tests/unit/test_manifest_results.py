"""`manifest push from-results`: which repository each job's result names (pure)."""

from __future__ import annotations

import json
from pathlib import Path

from multiarch.manifest_run import sources_from_results
from multiarch.sources import Missing

DIGEST = "sha256:" + "ab" * 32


def _result(path: Path, destinations: list[str]) -> Path:
    manifest = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 1}
    path.write_text(json.dumps({
        "platform": {"os": "linux", "architecture": "arm64"}, "manifest": manifest,
        "config_digest": DIGEST, "destinations": destinations, "duration_s": 1,
    }))  # fmt: skip
    return path


def test_local_outputs_are_skipped_for_the_registry_the_job_pushed_to(tmp_path: Path) -> None:
    result = _result(
        tmp_path / "arm64.json",
        ["oci:/out/layout:v1", "docker-archive:/out/a.tar:other/name:1", f"reg.example/app/build@{DIGEST}"],
    )
    [source] = sources_from_results([result], "reg.example/app:v1")
    assert source.name == f"reg.example/app/build@{DIGEST}"
    assert source.label == "linux/arm64"


def test_a_result_with_only_local_outputs_names_the_target_repository(tmp_path: Path) -> None:
    result = _result(tmp_path / "arm64.json", ["oci:/out/layout:v1"])
    [source] = sources_from_results([result], "reg.example/app:v1")
    assert source.name == f"reg.example/app@{DIGEST}"


def test_a_missing_result_file_is_a_missing_source(tmp_path: Path) -> None:
    [source] = sources_from_results([tmp_path / "amd64.json"], "reg.example/app:v1")
    assert isinstance(source, Missing)
