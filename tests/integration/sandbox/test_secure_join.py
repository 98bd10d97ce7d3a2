"""Mount targets are resolved inside the root as the step would see them, never outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.sandbox.helper import SetupError, secure_join


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "abs").symlink_to("/etc")
    (r / "up").symlink_to("../../../..")
    (r / "host").symlink_to("/var/lib/builder")  # a path that exists on the host, not inside
    (r / "loop").symlink_to("loop")
    return r


@pytest.mark.parametrize(
    "path, inside",
    [
        ("/etc/hosts", "etc/hosts"),
        ("/abs/resolv.conf", "etc/resolv.conf"),
        ("/up/etc", "etc"),
        ("/../../etc", "etc"),
        ("/host/.docker", "var/lib/builder/.docker"),  # absolute links restart at the root
        ("/missing/deeper/x", "missing/deeper/x"),
    ],
)
def test_resolves_inside_the_root(root: Path, path: str, inside: str):
    assert secure_join(str(root), path) == os.path.join(str(root), inside)


def test_symlink_loops_are_an_error(root: Path):
    with pytest.raises(SetupError, match="too many symlinks"):
        secure_join(str(root), "/loop/x")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["..", ".", "etc", "abs", "up", "host", "x", ""]), max_size=8))
def test_never_leaves_the_root(tmp_path_factory, parts):
    base = tmp_path_factory.getbasetemp() / "secure-join-root"
    if not base.exists():
        (base / "etc").mkdir(parents=True)
        (base / "abs").symlink_to("/etc")
        (base / "up").symlink_to("../../..")
        (base / "host").symlink_to("/")
    resolved = secure_join(str(base), "/".join(parts))
    assert resolved == str(base) or resolved.startswith(str(base) + "/")
