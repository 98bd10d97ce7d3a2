"""TLS end to end through the CLI: verification is on by default, relaxed only for the
registry named, and expired or wrong-host certificates are refused with a clear message."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.scripted_server import ScriptedServer
from tests.fixtures.tls import ServerCerts
from tests.reliability.helpers import last_line, ok, run_cli


def bad_certs(directory: Path, *, expired: bool) -> ServerCerts:
    ca = trustme.CA(organization_name="multiarch bad-cert CA")
    if expired:
        past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        cert = ca.issue_cert("127.0.0.1", "localhost", not_before=past, not_after=past + dt.timedelta(days=1))
    else:
        cert = ca.issue_cert("registry.example.invalid")
    directory.mkdir(parents=True)
    certs = ServerCerts(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    ca.cert_pem.write_to_path(str(certs.ca_file))
    cert.private_key_pem.write_to_path(str(certs.key_file))
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(certs.cert_file), append=i > 0)
    return certs


@pytest.fixture(params=["expired", "wrong-host"])
def bad_tls_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, RegistryHandle]]:
    """An HTTPS endpoint whose certificate is bad (the handshake is all a client gets to)."""
    certs = bad_certs(tmp_path / "certs", expired=request.param == "expired")
    server = ScriptedServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    server.start()
    try:
        yield request.param, RegistryHandle(host=server.host, url=f"https://{server.host}", ca_file=certs.ca_file)
    finally:
        server.stop()


def test_unknown_ca_is_refused_by_default_and_trusted_per_host(
    tmp_path: Path, tls_registry: RegistryHandle, busybox_layout: Path
) -> None:
    dest = f"docker://{tls_registry.host}/{unique_repo('tls')}:v1"
    refused = run_cli("copy", "--all", f"oci:{busybox_layout}:latest", dest)
    assert refused.returncode == 1
    line = last_line(refused)
    assert tls_registry.host in refused.stderr and "--registry-certificate" in refused.stderr, refused.stderr
    assert line.startswith(("error:", "hint:")) and "Traceback" not in refused.stderr
    ok(run_cli("copy", "--all", "--registry-certificate", f"{tls_registry.host}={tls_registry.ca_file}",
               f"oci:{busybox_layout}:latest", dest))


def test_bad_certificate_is_refused_even_with_its_ca(
    bad_tls_registry: tuple[str, RegistryHandle], busybox_layout: Path
) -> None:
    kind, registry = bad_tls_registry
    dest = f"docker://{registry.host}/{unique_repo('tls')}:v1"
    done = run_cli("copy", "--all", "--registry-certificate", f"{registry.host}={registry.ca_file}",
                   f"oci:{busybox_layout}:latest", dest)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    reason = "expired" if kind == "expired" else "match"  # OpenSSL: "Hostname mismatch"/"IP address mismatch"
    assert registry.host in done.stderr and reason in done.stderr.lower(), done.stderr


def test_insecure_applies_only_to_the_named_registry(tls_registry: RegistryHandle, busybox_layout: Path) -> None:
    dest = f"docker://{tls_registry.host}/{unique_repo('tls')}:v1"
    wrong_side = run_cli("copy", "--all", "--src-tls-verify=false", f"oci:{busybox_layout}:latest", dest)
    assert wrong_side.returncode == 1 and "not trusted" in wrong_side.stderr, wrong_side.stderr
    ok(run_cli("copy", "--all", "--dest-tls-verify=false", f"oci:{busybox_layout}:latest", dest))
