"""TLS with a custom CA: trusted via --registry-certificate or SSL_CERT_FILE, refused with a
clear message otherwise; verification skipped only for hosts named so; skopeo agrees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.errors import TLSError
from builder.registry import RegistryClient, RegistryOptions
from tests.fixtures.pushed import push_blob, push_image, random_blob
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.tls import ClientCert, issue_server_certs


def roundtrip(options: RegistryOptions, handle: RegistryHandle) -> None:
    ref, blob = handle.ref(unique_repo()), random_blob(5000)
    with RegistryClient(options, env={}) as client:
        push_blob(client, ref, blob)
        with client.open_blob(ref, blob.descriptor) as chunks:
            assert b"".join(chunks) == blob.data


def test_extra_ca_file_for_the_host(tls_registry: RegistryHandle) -> None:
    roundtrip(tls_registry.options(), tls_registry)


def test_unknown_authority_says_which_host_and_how_to_add_its_ca(tls_registry: RegistryHandle) -> None:
    with RegistryClient(RegistryOptions(), env={}) as client:
        with pytest.raises(TLSError) as err:
            client.has_blob(tls_registry.ref(unique_repo()), random_blob(1).descriptor.digest)
    assert f"TLS certificate of {tls_registry.host} is not trusted" in str(err.value)
    assert "unable to get local issuer certificate" in str(err.value)
    assert f"--registry-certificate {tls_registry.host}=" in (err.value.hint or "")


def test_ssl_cert_file_is_honoured(tls_registry: RegistryHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.ca_file))
    roundtrip(RegistryOptions(), tls_registry)


@pytest.mark.parametrize("field", ["skip_verify", "insecure"])
def test_verification_skipped_only_for_named_hosts(tls_registry: RegistryHandle, field: str) -> None:
    roundtrip(RegistryOptions(**{field: frozenset({tls_registry.host})}), tls_registry)
    with pytest.raises(TLSError):
        roundtrip(RegistryOptions(**{field: frozenset({"other.example:5000"})}), tls_registry)


def test_skopeo_reads_what_we_push_over_tls(tls_registry: RegistryHandle, tmp_path: Path) -> None:
    repo = unique_repo()
    with RegistryClient(tls_registry.options(), env={}) as client:
        image = push_image(client, tls_registry.ref(repo, tag="v1"), docker=True)
    assert tls_registry.ca_file is not None
    shutil.copy(tls_registry.ca_file, tmp_path / "ca.crt")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--cert-dir", str(tmp_path), f"docker://{tls_registry.image(repo, 'v1')}"],
        check=True,
        capture_output=True,
    ).stdout
    assert raw == image.manifest.data


CA_STORE_PROBE = """
import sys
from builder.reference import parse_reference
from builder.registry import RegistryClient, RegistryOptions
from builder.registry.connection import ssl_context

host, ref = sys.argv[1], parse_reference(sys.argv[2])
context = ssl_context(host, RegistryOptions())
before = context.cert_store_stats()["x509_ca"]
with RegistryClient(RegistryOptions(), env={}) as client:
    assert client.head_manifest(ref) is None
print(before, context.cert_store_stats()["x509_ca"])
"""


@pytest.mark.parametrize("kind", ["plain", "tls"])
def test_ca_store_loads_only_for_a_registry_that_speaks_tls(
    request: pytest.FixtureRequest, kind: str
) -> None:
    """A loopback registry is asked with a bare handshake whether it speaks TLS: one that
    answers in plain HTTP is used without loading the system CAs (a fresh process, since
    contexts are shared process-wide); one that speaks TLS is verified against the store,
    loaded at its first connection (SSL_CERT_FILE: the test CA alone)."""
    handle: RegistryHandle = request.getfixturevalue(f"{'tls_' if kind == 'tls' else ''}registry")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT_")}
    if handle.ca_file is not None:
        env["SSL_CERT_FILE"] = str(handle.ca_file)
    done = subprocess.run(
        [sys.executable, "-c", CA_STORE_PROBE, handle.host, handle.image(unique_repo(), "none")],
        capture_output=True, text=True, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == (["0", "0"] if kind == "plain" else ["0", "1"])


def test_mutual_tls_shows_the_client_certificate(mtls_registry: tuple[RegistryHandle, ClientCert],
                                                 tmp_path: Path) -> None:
    """A registry that asks for a client certificate (kaniko --registry-client-cert): with
    it, a push and pull; without it, or with one its CA did not sign, a RegistryError that
    names the host; an unreadable key file, one line naming the file."""
    handle, client = mtls_registry
    roundtrip(handle.options(client_certs={handle.host: (client.cert_file, client.key_file)}),
              handle)
    with RegistryClient(handle.options(), env={}) as bare:
        with pytest.raises(TLSError) as refused:
            bare.has_blob(handle.ref(unique_repo()), random_blob(1).descriptor.digest)
    assert f"{handle.host} refused the TLS connection: it wants a client certificate" in str(
        refused.value)
    assert f"--registry-client-cert {handle.host}=" in (refused.value.hint or "")
    stranger = issue_server_certs(tmp_path / "stranger", client_auth=True).client
    assert stranger is not None
    with RegistryClient(handle.options(client_certs={
            handle.host: (stranger.cert_file, stranger.key_file)}), env={}) as other:  # fmt: skip
        with pytest.raises(TLSError, match="wants a client certificate it trusts"):
            other.has_blob(handle.ref(unique_repo()), random_blob(1).descriptor.digest)
    missing = tmp_path / "no.key"
    with pytest.raises(TLSError, match=f"cannot load the client certificate .* \\(key {missing}\\)"):
        with RegistryClient(handle.options(client_certs={handle.host: (client.cert_file, missing)}),
                            env={}) as broken:
            broken.has_blob(handle.ref(unique_repo()), random_blob(1).descriptor.digest)
