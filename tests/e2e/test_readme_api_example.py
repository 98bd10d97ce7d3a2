"""The README's API example (a pytest fixture building a two-platform image into an OCI
layout, and a test on it) runs as written, in a pytest of its own: a real build, the arm64
RUN under QEMU; the base image is the busybox index of the test fixtures (BASE_IMAGE)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def api_example() -> str:
    section = README.read_text().split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the API section has one Python example"
    return blocks[0]


def test_readme_api_example_runs(tmp_path: Path, busybox_layout: Path) -> None:
    (tmp_path / "test_readme_example.py").write_text(api_example())
    env = {**os.environ, "BASE_IMAGE": f"oci:{busybox_layout}:latest",
           "MULTIARCH_CACHE_DIR": str(tmp_path / "store")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--basetemp", str(tmp_path / "pytest"), str(tmp_path / "test_readme_example.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout
    # An independent client reads the layout the example wrote: a two-platform index.
    index_file = tmp_path / "pytest" / "app0" / "image" / "index.json"
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{index_file.parent}:test"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    platforms = [m["platform"]["architecture"] for m in json.loads(raw)["manifests"]]
    assert platforms == ["amd64", "arm64"]
