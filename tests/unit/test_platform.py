from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.errors import PlatformError
from builder.oci import mediatypes as mt
from builder.oci.models import Descriptor, ImageIndex, Platform
from builder.oci.platform import (
    KNOWN_ARCH,
    format_platform,
    host_platform,
    parse_platform,
    platform_matches,
    select_manifest,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64"),
        ("LINUX/AMD64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/arm64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/8", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v9", "linux/arm64/v9"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/arm/5", "linux/arm/v5"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("linux/386", "linux/386"),
        ("linux/ppc64le", "linux/ppc64le"),
        ("linux/s390x", "linux/s390x"),
        ("linux/riscv64", "linux/riscv64"),
        ("macos/arm64", "darwin/arm64"),
        ("windows(10.0.17763)/amd64", "windows(10.0.17763)/amd64"),
        (" linux/arm64 ", "linux/arm64"),
    ],
)
def test_parse_normalises(text: str, expected: str) -> None:
    assert format_platform(parse_platform(text)) == expected


def test_os_only_takes_host_architecture() -> None:
    host = host_platform()
    parsed = parse_platform("linux")
    assert (parsed.os, parsed.architecture, parsed.variant) == ("linux", host.architecture, host.variant)


@pytest.mark.parametrize(("text", "arch"), [("arm64", "arm64"), ("x86_64", "amd64"), ("aarch64", "arm64")])
def test_arch_only_takes_host_os(text: str, arch: str) -> None:
    parsed = parse_platform(text)
    assert (parsed.os, parsed.architecture) == (host_platform().os, arch)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected os/arch"),
        ("linux/amd64/v3/extra", "expected os/arch"),
        ("linux//v7", "empty component"),
        ("linux/", "empty component"),
        ("linux/am d64", "not a valid"),
        ("linux/amd64;rm", "not a valid"),
        ("plan10/amd64", "unknown operating system 'plan10'"),
        ("linux/pentium", "unknown architecture 'pentium'"),
        ("bogus", "unknown operating system or architecture"),
    ],
)
def test_junk_is_a_clear_platform_error(text: str, fragment: str) -> None:
    with pytest.raises(PlatformError) as info:
        parse_platform(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_host_platform_is_known() -> None:
    host = host_platform()
    assert host.architecture in KNOWN_ARCH
    assert parse_platform(format_platform(host)) == host


def P(text: str) -> Platform:
    return Platform(**dict(zip(("os", "architecture", "variant"), text.split("/"))))


@pytest.mark.parametrize(
    ("want", "have", "matches"),
    [
        ("linux/arm64", "linux/arm64", True),
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/aarch64", "linux/arm64/v8", True),
        ("linux/arm64", "linux/arm/v7", False),  # no cross-architecture fallback
        ("linux/arm/v7", "linux/arm", True),
        ("linux/arm", "linux/arm/v7", True),
        ("linux/arm/v7", "linux/arm/v6", True),
        ("linux/arm/v7", "linux/arm/v5", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/arm/v5", "linux/arm/v6", False),
        ("linux/amd64", "linux/amd64", True),
        ("linux/amd64", "linux/x86_64", True),
        ("linux/amd64/v3", "linux/amd64", True),
        ("linux/amd64/v3", "linux/amd64/v2", True),
        ("linux/amd64", "linux/amd64/v2", False),
        ("linux/amd64", "linux/386", False),
        ("linux/amd64", "windows/amd64", False),
        ("linux/amd64", "linux/arm64", False),
        ("linux/ppc64le", "linux/ppc64le", True),
    ],
)
def test_platform_matches(want: str, have: str, matches: bool) -> None:
    assert platform_matches(P(want), P(have)) is matches


def _index(*platforms: str | None) -> ImageIndex:
    return ImageIndex(
        manifests=[
            Descriptor(
                mediaType=mt.OCI_MANIFEST,
                digest="sha256:" + f"{i:x}" * 64,
                size=100 + i,
                platform=P(p) if p else None,
            )
            for i, p in enumerate(platforms, start=1)
        ]
    )


@pytest.mark.parametrize(
    ("entries", "want", "picked"),
    [
        (("linux/amd64", "linux/arm64/v8"), "linux/arm64", 2),
        (("linux/amd64", "linux/arm64"), "linux/arm64/v8", 2),
        (("linux/arm/v6", "linux/arm/v7"), "linux/arm", 2),
        (("linux/arm/v5", "linux/arm/v6"), "linux/arm/v7", 2),
        (("linux/arm/v5",), "linux/arm/v7", 1),
        ((None, "unknown/unknown", "linux/amd64"), "linux/amd64", 3),
        (("linux/amd64", "linux/amd64/v3"), "linux/amd64/v3", 2),
        (("linux/amd64", "linux/amd64/v2"), "linux/amd64/v3", 2),
        (("linux/amd64", "linux/amd64"), "linux/amd64", 1),
    ],
)
def test_select_manifest(entries: tuple[str | None, ...], want: str, picked: int) -> None:
    chosen = select_manifest(_index(*entries), parse_platform(want))
    assert chosen.size == 100 + picked


def test_select_manifest_lists_what_is_available() -> None:
    with pytest.raises(PlatformError) as info:
        select_manifest(_index("linux/amd64", "linux/arm/v6"), parse_platform("linux/arm64"))
    assert "linux/arm64" in str(info.value)
    assert "available: linux/amd64, linux/arm/v6" in str(info.value)


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=8)


@given(
    os_name=st.sampled_from(["linux", "windows", "darwin", "freebsd", "LINUX", "Linux"]),
    arch=st.sampled_from(sorted(KNOWN_ARCH) + ["x86_64", "aarch64", "armhf", "armel", "i386"]),
    variant=st.one_of(st.none(), st.sampled_from(["v5", "v6", "v7", "v8", "v9", "7", "8"]), _word),
)
def test_round_trip(os_name: str, arch: str, variant: str | None) -> None:
    text = f"{os_name}/{arch}" + (f"/{variant}" if variant else "")
    parsed = parse_platform(text)
    assert parse_platform(format_platform(parsed)) == parsed
    assert format_platform(parse_platform(format_platform(parsed))) == format_platform(parsed)
    assert platform_matches(parsed, parse_platform(text.upper()))


@given(st.text(max_size=30))
def test_parse_never_crashes_unexpectedly(text: str) -> None:
    try:
        parse_platform(text)
    except PlatformError as err:
        assert "\n" not in str(err)
