from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.errors import InvalidReferenceError
from builder.reference import Reference, parse_reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("busybox", "docker.io", "library/busybox", None, None),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("user/app", "docker.io", "user/app", None, None),
        ("docker.io/busybox", "docker.io", "library/busybox", None, None),
        ("index.docker.io/busybox", "docker.io", "library/busybox", None, None),
        ("registry-1.docker.io/user/app:v1", "docker.io", "user/app", "v1", None),
        ("docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None),
        ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", "t", None),
        ("[::1]:5000/app:v2", "[::1]:5000", "app", "v2", None),
        ("[fe80::1]/app", "[fe80::1]", "app", None, None),
        ("ghcr.io/owner/app", "ghcr.io", "owner/app", None, None),
        ("registry.example.com/group/sub/app", "registry.example.com", "group/sub/app", None, None),
        (f"busybox@{D}", "docker.io", "library/busybox", None, D),
        (f"ghcr.io/o/app:v1@{D}", "ghcr.io", "o/app", "v1", D),
        (f"localhost:5000/app@{D}", "localhost:5000", "app", None, D),
        ("a_b/c__d/e-f/g--h/i.j:T_1.x-y", "docker.io", "a_b/c__d/e-f/g--h/i.j", "T_1.x-y", None),
        ("Registry.Example.com/app", "Registry.Example.com", "app", None, None),
        ("my-registry/app", "docker.io", "my-registry/app", None, None),
        ("app:" + "t" * 128, "docker.io", "library/app", "t" * 128, None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    assert parse_reference(text) == Reference(registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("Busybox", "must be lowercase"),
        ("user/App:v1", "must be lowercase"),
        ("app:", "not a valid tag"),
        ("app:-bad", "not a valid tag"),
        ("app:" + "t" * 129, "not a valid tag"),
        ("app:a/b", "not a valid registry"),
        ("app@sha256:abc", "64 lower-case hex digits, not 3"),
        ("app@sha256:" + "AB" * 32, "lower-case hex"),
        ("app@md5:" + "a" * 32, "'md5' is not supported"),
        ("app@latest", "not a valid digest"),
        ("ab" * 32, "64-character hex"),
        ("a" * 256, "limit is 255"),
        ("localhost:5000/", "empty path component"),
        ("reg.io//app", "empty path component"),
        ("-app", "not a valid repository path component"),
        ("app_", "not a valid repository path component"),
        ("a___b", "not a valid repository path component"),
        ("re_g.io/app", "not a valid registry"),
        ("reg.io:port/app", "not a valid registry"),
        ("[::1/app", "not a valid registry"),
        (":tag", "repository name is empty"),
        (" busybox", "whitespace"),
        ("bus box", "whitespace"),
    ],
)
def test_invalid(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("user/app@" + D, "docker.io/user/app@" + D, "user/app@" + D),
        ("localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1"),
        ("docker.io/library/x/y", "docker.io/library/x/y", "library/x/y"),
        ("docker.io/a.b/c:t", "docker.io/a.b/c:t", "docker.io/a.b/c:t"),
        ("docker.io/localhost/c", "docker.io/localhost/c", "docker.io/localhost/c"),
    ],
)
def test_forms(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar == familiar
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref


def test_identifier_and_helpers() -> None:
    ref = parse_reference("localhost:5000/app")
    assert ref.identifier == "latest"
    assert ref.with_tag("v2").identifier == "v2"
    pinned = ref.with_tag("v2").with_digest(D)
    assert pinned.identifier == D
    assert str(pinned) == f"localhost:5000/app:v2@{D}"
    assert pinned.repository_ref() == Reference("localhost:5000", "app")
    assert str(pinned.repository_ref()) == "localhost:5000/app"
    assert pinned.with_tag("v3") == Reference("localhost:5000", "app", "v3", None)
    assert ref.name == "localhost:5000/app"
    with pytest.raises(InvalidReferenceError):
        ref.with_tag("bad tag")
    with pytest.raises(InvalidReferenceError):
        ref.with_digest("sha256:nothex")


_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_component = st.builds(
    lambda parts, seps: "".join(p + s for p, s in zip(parts, seps)) + parts[-1],
    st.lists(_alnum, min_size=2, max_size=4),
    st.lists(st.sampled_from([".", "_", "__", "-", "--"]), min_size=3, max_size=3),
)


@given(
    registry=st.sampled_from(["docker.io", "localhost:5000", "reg.example.com", "[::1]:443"]),
    path=st.lists(_component, min_size=1, max_size=4),
    tag=st.one_of(st.none(), st.sampled_from(["latest", "v1.2", "A_b-c.D", "1", "_x"])),
    digest=st.one_of(st.none(), st.just(D)),
)
def test_round_trip(registry: str, path: list[str], tag: str | None, digest: str | None) -> None:
    repository = "/".join(path)
    if registry == "docker.io" and len(path) == 1:
        repository = "library/" + repository
    ref = Reference(registry, repository, tag, digest)
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref
