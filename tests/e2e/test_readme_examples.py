"""The GitLab CI snippets the README gives users validate against GitLab's CI schema."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_gitlab_snippets() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_gitlab_snippet_is_schema_valid(index: int, tmp_path: Path) -> None:
    snippet = tmp_path / f"snippet-{index}.yml"
    snippet.write_text(SNIPPETS[index])
    done = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(snippet)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
