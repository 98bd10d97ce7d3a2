""".dockerignore semantics of moby/patternmatcher."""

import pytest

from builder.dockerfile.dockerignore import DockerIgnore, find_dockerignore, read_patterns
from builder.errors import SourceError

CASES = [
    # (patterns, path, excluded)
    ("*.md", "a.md", True),
    ("*.md", "dir/a.md", False),          # * does not cross /
    ("**/*.md", "dir/sub/a.md", True),
    ("**/*.md", "a.md", True),
    ("dir", "dir/file", True),            # a parent match excludes the subtree
    ("dir/", "dir/file", True),           # trailing slash dropped
    ("/dir", "dir/file", True),           # leading slash dropped
    ("dir/*", "dir", False),
    ("dir/**", "dir/a/b", True),
    ("dir/**", "dir", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[a-c].txt", "b.txt", True),
    ("[a-c].txt", "d.txt", False),
    ("a.b", "axb", False),                # regex specials are literal
    ("*\n!keep.md", "keep.md", False),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md\nREADME.md", "README.md", True),  # order matters
    ("dir\n!dir/keep", "dir/keep", False),
    ("dir\n!dir/keep", "dir/other", True),
    ("# comment\n  \n foo ", "foo", True),
    ("#foo", "#foo", False),
    ("**", "anything/at/all", True),
    ("**/node_modules", "a/b/node_modules/x", True),
    ("a/../b", "b", True),                # patterns are cleaned
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), CASES)
def test_matching(patterns, path, excluded):
    assert DockerIgnore.from_text(patterns).excluded(path) is excluded


def test_read_patterns_cleans_like_readall():
    assert read_patterns("\ufeff/a/\n! b/ \n#c\n\n./d") == ["a", "!b", "d"]


def test_has_exclusions():
    assert DockerIgnore.from_text("a\n!b").has_exclusions
    assert not DockerIgnore.from_text("a").has_exclusions


@pytest.mark.parametrize("bad", ["!", "[a-"])
def test_bad_patterns_name_the_line(bad):
    with pytest.raises(SourceError, match=r"\.dockerignore:2"):
        DockerIgnore.from_text("ok\n" + bad)


def test_dockerfile_specific_ignore_file_wins(tmp_path):
    (tmp_path / ".dockerignore").write_text("a\n")
    sub = tmp_path / "docker"
    sub.mkdir()
    dockerfile = sub / "app.Dockerfile"
    dockerfile.write_text("FROM x\n")
    assert find_dockerignore(tmp_path, dockerfile) == tmp_path / ".dockerignore"
    (sub / "app.Dockerfile.dockerignore").write_text("b\n")
    assert find_dockerignore(tmp_path, dockerfile) == sub / "app.Dockerfile.dockerignore"
    assert find_dockerignore(tmp_path / "docker") is None
