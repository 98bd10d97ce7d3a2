"""Which registries may fall back to plain HTTP: loopback ones and those named insecure."""

from __future__ import annotations

import pytest

from builder.registry.options import RegistryOptions
from builder.registry.plain_http import may_use_plain_http


@pytest.mark.parametrize(
    "host",
    [
        "localhost", "localhost:5000", "LocalHost:5000", "127.0.0.1", "127.0.0.1:5000",
        "127.1.2.3:443", "127.255.255.254", "[::1]:5000", "[::1]", "::1",
        "[::ffff:127.0.0.1]:5000",
    ],
)  # fmt: skip
def test_loopback_registries_may_use_plain_http_without_a_flag(host: str) -> None:
    assert may_use_plain_http(host, RegistryOptions())


@pytest.mark.parametrize(
    "host",
    [
        "registry.example.com", "registry.example.com:5000", "docker.io", "ghcr.io",
        "localhost.example.com:5000", "mylocalhost:5000", "localhost6:5000", "128.0.0.1:5000",
        "10.0.0.1:5000", "192.168.1.10:5000", "[fe80::1]:5000", "[::2]:5000", "0.0.0.0:5000",
        "127.0.0.1.nip.io:5000",
    ],
)  # fmt: skip
def test_other_registries_never_fall_back_unless_named_insecure(host: str) -> None:
    assert not may_use_plain_http(host, RegistryOptions())
    assert may_use_plain_http(host, RegistryOptions(insecure=frozenset({host})))
    assert not may_use_plain_http(host, RegistryOptions(insecure=frozenset({"other:5000"})))
