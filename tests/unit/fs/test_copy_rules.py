"""COPY source and destination rules, and safe writing into a root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.executor.copier import CopyOptions, copy_targets
from builder.fs.copysources import plan_targets
from builder.fs.patterns import ExcludeMatcher, match_component
from builder.executor.users import ResolvedUser, resolve_chown, resolve_run_user
from builder.dockerfile.chmod import parse_chmod
from builder.dockerfile.dockerignore import DockerIgnore
from builder.errors import BuildError


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "dir/sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "dir/x.go", "dir/sub/c.txt"):
        (ctx / name).write_text(name)
    (ctx / "link").symlink_to("a.txt")
    (ctx / "escape").symlink_to("/etc/passwd")
    return ctx


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (r / "etc/group").write_text("root:x:0:\napp:x:1001:\nextra:x:50:app\n")
    (r / "existing").mkdir()
    (r / "to-etc").symlink_to("/etc")
    return r


def copy(context: Path, root: Path, sources: tuple[str, ...], dest: str, workdir: str = "/",
         **options) -> None:
    parents = options.pop("parents", False)
    copy_targets(root, plan_targets(context, sources, dest, workdir, parents=parents), CopyOptions(**options))


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()} - {"etc/passwd", "etc/group"}


@pytest.mark.parametrize(
    "sources,dest,workdir,expected",
    [
        (("a.txt",), "/f", "/", {"f"}),
        (("a.txt",), "/d/", "/", {"d/a.txt"}),
        (("a.txt",), "/existing", "/", {"existing/a.txt"}),
        (("a.txt",), "rel", "/w", {"w/rel"}),
        (("a.txt", "b.txt"), "/m/", "/", {"m/a.txt", "m/b.txt"}),
        (("*.txt",), "/g", "/", {"g/a.txt", "g/b.txt"}),
        (("dir",), "/c", "/", {"c/x.go", "c/sub/c.txt"}),
        (("dir/*",), "/s/", "/", {"s/x.go", "s/c.txt"}),
        (("nomatch*",), "/n/", "/", set()),
        (("link",), "/l", "/", {"l"}),
        (("../../a.txt",), "/clamped", "/", {"clamped"}),
        (("a.txt",), "/to-etc/f", "/", {"etc/f"}),
    ],
)
def test_destination_rules(context: Path, root: Path, sources, dest, workdir, expected) -> None:
    copy(context, root, sources, dest, workdir)
    assert files(root) - {"to-etc"} == expected


def test_parents_keep_paths_below_pivot(context: Path, root: Path) -> None:
    copy(context, root, ("dir/./sub/c.txt", "a.txt"), "/p/", parents=True)
    assert files(root) - {"to-etc"} == {"p/sub/c.txt", "p/a.txt"}


def test_symlink_source_never_leaves_the_context(context: Path, root: Path) -> None:
    with pytest.raises(BuildError, match="not found"):
        copy(context, root, ("escape",), "/x")


def test_several_sources_need_a_directory(context: Path, root: Path) -> None:
    with pytest.raises(BuildError, match="must be a directory"):
        copy(context, root, ("a.txt", "b.txt"), "/notdir")


def test_missing_source(context: Path, root: Path) -> None:
    with pytest.raises(BuildError, match='"/nope": not found'):
        copy(context, root, ("nope",), "/x")


def test_owner_mode_and_exclude(context: Path, root: Path) -> None:
    copy(context, root, ("dir",), "/o", owner=(7, 8), mode=parse_chmod("0600"), exclude=ExcludeMatcher(("*.go",)))
    target = root / "o/sub/c.txt"
    st = target.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (7, 8, 0o600)
    assert not (root / "o/x.go").exists()
    assert (root / "o").stat().st_uid == 7  # created destination dirs belong to the owner


# BuildKit: executor/oci/user.go GetUser (runc's GetExecUser) then WithUIDGID, which puts the
# primary gid among the additional gids; solver/llbsolver/file/user_linux.go for --chown.
@pytest.mark.parametrize("spec,uid,gid,groups", [
    ("", 0, 0, (0,)),
    ("root", 0, 0, (0,)),
    ("app", 1000, 1001, (1001, 50, 60)),  # initgroups: /etc/group order, primary first
    ("1000", 1000, 1001, (1001, 50, 60)),  # a numeric uid found in passwd is that user
    ("4242", 4242, 0, (0,)),  # unknown numeric uid: gid 0, no name to look up groups by
    ("app:extra", 1000, 50, (50,)),  # an explicit group: no supplementary groups
    ("app:77", 1000, 77, (77,)),
    ("1000:1000", 1000, 1000, (1000,)),  # numeric pair: BuildKit reads no file
    ("lonely", 2000, 2000, (2000,)),  # in passwd, in no /etc/group line
])
def test_run_user(root: Path, spec: str, uid: int, gid: int, groups: tuple[int, ...]) -> None:
    (root / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
        "lonely:x:2000:2000::/:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\napp:x:1001:\nextra:x:50:app\nmore:x:60:x,app\n")
    assert resolve_run_user(root, spec) == ResolvedUser(uid, gid, groups)


@pytest.mark.parametrize("spec,message", [
    ("nobody", "unable to find user nobody: no matching entries in passwd file"),
    ("app:nogroup", "unable to find group nogroup: no matching entries in group file"),
])
def test_run_user_errors(root: Path, spec: str, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        resolve_run_user(root, spec)


def test_chown(root: Path) -> None:
    assert resolve_chown(root, "app") == (1000, 1001)  # a name: that user's primary group
    assert resolve_chown(root, "1000") == (1000, 1000)  # a number: gid = uid
    assert resolve_chown(root, "app:app") == (1000, 1001)
    assert resolve_chown(root, "app:50") == (1000, 50)
    assert resolve_chown(None, "5:6") == (5, 6)
    with pytest.raises(BuildError, match="unable to find user nobody"):
        resolve_chown(root, "nobody")


def test_passwd_through_symlink_out_of_root_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "etc").symlink_to("/etc")
    with pytest.raises(BuildError):
        resolve_run_user(root, "root")


@pytest.mark.parametrize("pattern,name,hit", [
    ("*.txt", "a.txt", True), ("?.txt", "ab.txt", False), ("[a-c]x", "bx", True),
    ("[^a]x", "ax", False), ("a\\*", "a*", True),
])
def test_match_component(pattern: str, name: str, hit: bool) -> None:
    assert match_component(pattern, name) is hit


def test_exclude_matcher_double_star_and_negation() -> None:
    m = ExcludeMatcher(("**/*.log", "!keep.log"))
    assert m.excluded("a/b/c.log") and not m.excluded("keep.log") and not m.excluded("x.txt")


@pytest.mark.parametrize("via", ["dockerignore", "exclude"])
def test_excluded_dirs_appear_only_as_parents_of_re_included_paths(tmp_path: Path, root: Path,
                                                                    via: str) -> None:
    # BuildKit (fsutil's walker): `!` exceptions make it look inside excluded directories, but
    # an excluded directory is emitted only as the parent of something re-included, with its
    # context metadata; excluded directories with nothing re-included never appear, not even
    # empty.
    ctx = tmp_path / "ig"
    for name in ("excluded/keep.txt", "excluded/other.txt", "excluded/empty/x",
                 "secret/sub/deep/allowed", "secret/sub/other/x", "top.txt", "kept/y"):
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(name)
    os.chmod(ctx / "secret/sub", 0o700)
    patterns = ("excluded", "!excluded/keep.txt", "secret", "!secret/sub/deep/allowed")
    if via == "dockerignore":
        options = CopyOptions(ignore=DockerIgnore.from_text("\n".join(patterns)))
    else:
        options = CopyOptions(exclude=ExcludeMatcher(patterns))
    copy_targets(root, plan_targets(ctx, (".",), "/c/", "/"), options)
    made = {str(p.relative_to(root / "c")) for p in (root / "c").rglob("*")}
    assert made == {"excluded", "excluded/keep.txt", "secret", "secret/sub", "secret/sub/deep",
                    "secret/sub/deep/allowed", "top.txt", "kept", "kept/y"}
    assert (root / "c/secret/sub").stat().st_mode & 0o777 == 0o700
