"""The bench results table renders from a saved results.json (no benchmark is run here)."""

from __future__ import annotations

import json

from bench.results import SuiteResult, render_markdown

MIB = 1 << 20


def _run(run: int, wall: float, rss_mib: int, up: int = 0) -> dict[str, object]:
    return {"run": run, "wall_s": wall, "step_walls_s": [wall], "tree_rss_peak": rss_mib * MIB,
            "proc_rss_peak": (rss_mib // 2) * MIB, "bytes_up": up, "bytes_down": 0,
            "requests": 10 + run}


FIXED = {
    "started": "2025-01-01T00:00:00+00:00",
    "command": "python -m bench --quick",
    "host": "test 2 CPUs",
    "storage": "tmpfs (/dev/shm/multiarch-bench)",
    "runs": 3,
    "quick": True,
    "load_before": 0.5,
    "load_after": 1.25,
    "ours_startup_s": 0.123,
    "workloads": [
        {"key": "w1", "title": "w1 small", "anchor": {"kaniko_s": 0.24, "kaniko_rss_mib": 49, "buildah_s": 2.0},
         "goal": 1.2, "sides": [
            {"side": "ours", "commands": ["multiarch executor --context c"],
             "runs": [_run(1, 0.5, 40, MIB), _run(2, 0.3, 50, 3 * MIB), _run(3, 0.4, 45, 2 * MIB)]},
            {"side": "buildah", "commands": ["buildah build c", "buildah push x"],
             "runs": [_run(1, 2.0, 80), _run(2, 1.6, 100), _run(3, 1.9, 90)]},
        ]},
        {"key": "w6", "title": "w6 multiarch", "anchor": {"kaniko_rss_mib": 49}, "sides": [
            {"side": "ours", "error": "not available yet: `multiarch build` No such command 'build'."},
            {"side": "buildah", "runs": [_run(1, 6.0, 98)]},
        ]},
        {"key": "w7", "title": "w7 rebuild", "anchor": {"kaniko_s": 0.1}, "goal": 1.0,
         "timeline": [
             {"platform": "linux/amd64", "start_s": 0.0, "end_s": 1.5, "pull": [0.2, 0.5],
              "run_steps": [[0.6, 0.7], [0.7, 1.0]], "push": [1.1, 1.5]},
             {"platform": "linux/arm64", "start_s": 0.01, "end_s": 3.0},
         ],
         "sides": [{"side": "ours", "runs": [_run(1, 0.19, 40)]}]},
    ],
    "step_overhead": {"base_s": [1.0, 1.2, 1.1], "with_runs_s": [1.5, 1.3, 1.4],
                      "with_metadata_s": [1.11, 1.12, 1.13], "extra_runs": 10, "extra_metadata": 20,
                      "base_cpu_s": [0.5, 0.6, 0.7], "with_runs_cpu_s": [0.7, 0.8, 0.9],
                      "with_metadata_cpu_s": [0.6, 0.61, 0.7]},
    "manifest_push": {"rounds_s": [0.2, 0.1, 0.3], "cpu_s": [0.15, 0.1, 0.2], "requests": 6},
}


def _row(table: str, title: str, nth: int = 0) -> list[str]:
    """The cells of the nth table row (in the whole page) whose first cell is `title`."""
    line = [ln for ln in table.splitlines() if ln.startswith(f"| {title} |")][nth]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_table_has_medians_ranges_and_ratios() -> None:
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(FIXED)))
    row = _row(table, "w1 small")
    assert row[1:5] == ["0.40 (0.30–0.50)", "1.90 (1.60–2.00)", "0.21", "0.12"]
    assert row[5:7] == ["1.75", "≤ 1.20"]  # 0.40 / (0.12 × 1.90); the goal
    assert row[7:11] == ["50 / 25", "100 / 50", "0.50", "49"]
    assert row[11:] == ["2.00, 12", "0.00, 12"]
    assert "buildah at 0.95× the anchor machine's time" in table


def test_unavailable_side_is_reported_not_skipped() -> None:
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(FIXED)))
    row = _row(table, "w6 multiarch")
    assert row[1] == "not available yet: `multiarch build` No such command 'build'."
    assert row[2] == "6.00 (6.00–6.00)"
    assert row[3] == row[4] == row[5] == row[6] == "—"
    assert row[10] == "49"
    assert "- w1 buildah: `buildah push x`" in table
    assert "before / after: 0.50 / 1.25" in table
    assert "median of 5): 123 ms" in table


def test_json_round_trip_is_lossless() -> None:
    result = SuiteResult.model_validate_json(json.dumps(FIXED))
    assert SuiteResult.model_validate_json(result.model_dump_json()) == result


def test_kaniko_estimate_without_a_buildah_anchor_uses_the_machine_speed() -> None:
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(FIXED)))
    # buildah ran at 0.95x the anchor machine's time (w1): kaniko's 0.1 s is 0.095 s here
    assert _row(table, "w7 rebuild")[5:7] == ["2.00", "≤ 1.00"]


def test_fixed_costs_and_the_platform_timeline_are_shown() -> None:
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(FIXED)))
    # wall: fastest less fastest, per step; CPU: median less median, per step
    assert "| RUN (sandbox, snapshot, tiny layer) | 30.0 | 20.0 |" in table
    assert "| metadata (ENV) | 5.5 | 0.5 |" in table
    assert "| 200 (100) of 3 rounds | 150 | 27 | ≤ 80 | 7.4 | 6 |" in table
    assert "| linux/amd64 | 0.00–1.50 | 0.20–0.50 | 0.60–0.70, 0.70–1.00 | 1.10–1.50 |" in table
    assert "| linux/arm64 | 0.01–3.00 | — | — | — |" in table
    assert "Both platforms running at once for 1.49 s." in table


def test_an_overhead_below_zero_is_called_noise() -> None:
    noisy = json.loads(json.dumps(FIXED))
    noisy["step_overhead"]["with_metadata_s"] = [0.9, 1.2, 1.3]
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(noisy)))
    assert "| metadata (ENV) | lost in the noise (-5.0) | 0.5 |" in table


def test_container_rows_give_the_ratio_to_the_vm_and_without_the_start() -> None:
    boxed = json.loads(json.dumps(FIXED))
    boxed["container_start_s"] = 0.08
    w1, w6 = boxed["workloads"][0], boxed["workloads"][1]
    w1["sides"].append({"side": "container", "runs": [_run(1, 0.5, 30), _run(2, 0.46, 30)]})
    w6["sides"].append({"side": "container", "error": "failed: boom"})
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(boxed)))
    assert "## In an unprivileged container (issue 13)" in table
    assert "`/bin/true`, median of 5): 80 ms" in table
    # 0.48 / 0.40; (0.48 - 0.08) / 0.40
    assert _row(table, "w1 small", 1)[1:] == ["0.40 (0.30–0.50)", "0.48 (0.46–0.50)", "1.20",
                                            "≤ 1.1", "1.00"]  # fmt: skip
    assert _row(table, "w6 multiarch", 1)[2:] == ["failed: boom", "—", "≤ 1.1", "—"]


def test_no_container_section_without_the_container_side() -> None:
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(FIXED)))
    assert "unprivileged container" not in table


def test_attestation_overhead_has_a_row_per_workload_and_variant() -> None:
    fixed = {**FIXED, "attestations": {
        "walls_s": {"w1": [1.0, 1.2, 1.1], "w1+provenance": [1.1, 1.2, 1.1],
                    "w1+provenance+sbom": [1.2, 1.3, 1.2]},
        "cpus_s": {"w1": [0.5, 0.5, 0.5], "w1+provenance": [0.55, 0.55, 0.55],
                   "w1+provenance+sbom": [0.6, 0.6, 0.6]}}}
    table = render_markdown(SuiteResult.model_validate_json(json.dumps(fixed)))
    assert _row(table, "w1", 0)[1:] == [
        "--provenance", "1.10 (1.00–1.20)", "1.10 (1.10–1.20)", "1.000", "1.100", "≤ 1.10"]
    assert _row(table, "w1", 1)[1:] == [
        "--provenance --sbom", "1.10 (1.00–1.20)", "1.20 (1.20–1.30)", "1.091", "1.200", "≤ 1.10"]
