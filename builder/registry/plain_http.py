"""Which registries may be reached over plain HTTP.

HTTPS is always tried first. A registry that does not speak TLS is then reached over plain
HTTP only if it is named insecure (kaniko's --insecure-registry) or sits on a loopback
address — 127.0.0.0/8, ::1 or `localhost` — as Docker, containerd/BuildKit,
go-containerregistry (kaniko, crane) and skopeo do for a `localhost:5000` registry. A TLS
certificate that fails verification is never a reason to fall back.
"""

from __future__ import annotations

import ipaddress

from builder.registry.options import RegistryOptions


def may_use_plain_http(host: str, options: RegistryOptions) -> bool:
    """`host` is `host[:port]` as in references."""
    return host in options.insecure or is_loopback(host)


def is_loopback(host: str) -> bool:
    name = _without_port(host)
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def _without_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        return name
    return host
