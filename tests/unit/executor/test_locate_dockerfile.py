"""Which Dockerfile a build reads: docker's default, kaniko's rule for a given path."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.executor.context import locate_dockerfile
from builder.errors import UsageError


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd with its own Dockerfile, and a context directory with another."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM cwd\n")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM context\n")
    (tmp_path / "ctx" / "Other.Dockerfile").write_text("FROM other\n")
    return tmp_path


def test_default_is_the_contexts_dockerfile_not_the_cwds(tree: Path) -> None:
    assert locate_dockerfile(None, tree / "ctx").read_text() == "FROM context\n"


def test_a_given_relative_path_is_tried_in_the_cwd_first_as_kaniko_does(tree: Path) -> None:
    assert locate_dockerfile("Dockerfile", tree / "ctx").read_text() == "FROM cwd\n"


def test_a_given_path_falls_back_to_the_context(tree: Path) -> None:
    assert locate_dockerfile("Other.Dockerfile", tree / "ctx").read_text() == "FROM other\n"


def test_missing_names_every_place_looked(tree: Path) -> None:
    with pytest.raises(UsageError, match=r"'nope' not found \(looked for nope or .*ctx/nope\)"):
        locate_dockerfile("nope", tree / "ctx")
    with pytest.raises(UsageError, match="a directory context"):
        locate_dockerfile(None, None)
