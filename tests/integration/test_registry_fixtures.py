"""The registry fixtures themselves, checked with plain httpx (not our client)."""

from __future__ import annotations

import hashlib
import ssl

import httpx
import pytest

from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.token_server import SERVICE, TokenServer


def _push_blob(client: httpx.Client, base: str, repo: str, data: bytes, headers: dict) -> int:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = client.post(f"{base}/v2/{repo}/blobs/uploads/", headers=headers)
    if start.status_code != 202:
        return start.status_code
    # httpx's `params=` would replace the upload URL's own query (its state), so merge.
    url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": digest})
    done = client.put(url, content=data, headers=headers)
    return done.status_code


def test_plain_registry_answers(registry: RegistryHandle) -> None:
    with httpx.Client() as client:
        assert client.get(f"{registry.url}/v2/").status_code == 200
        assert _push_blob(client, registry.url, unique_repo(), b"hello", {}) == 201


def test_tls_registry_needs_its_ca(tls_registry: RegistryHandle) -> None:
    assert tls_registry.ca_file is not None
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_registry.url}/v2/")
    assert httpx.get(f"{tls_registry.url}/v2/", verify=ssl.create_default_context(cafile=tls_registry.ca_file)).status_code == 200


def test_basic_registry_checks_password(basic_registry: RegistryHandle) -> None:
    url = f"{basic_registry.url}/v2/"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=(basic_registry.username, "wrong")).status_code == 401
    assert httpx.get(url, auth=(basic_registry.username, basic_registry.password)).status_code == 200


def _token(server: TokenServer, scope: str, auth: tuple[str, str] | None) -> httpx.Response:
    return httpx.get(server.realm, params={"service": SERVICE, "scope": scope}, auth=auth)


def test_token_registry_enforces_scopes(token_registry: RegistryHandle, token_server: TokenServer) -> None:
    challenge = httpx.get(f"{token_registry.url}/v2/")
    assert challenge.status_code == 401
    assert f'realm="{token_server.realm}"' in challenge.headers["WWW-Authenticate"]

    bob = ("bob", token_server.policy.users["bob"])
    assert _token(token_server, "repository:bob/x:pull", ("bob", "wrong")).status_code == 401

    own, shared = unique_repo("bob"), unique_repo("shared")
    with httpx.Client() as client:
        token = _token(token_server, f"repository:{own}:pull,push", bob).json()["token"]
        assert _push_blob(client, token_registry.url, own, b"x", {"Authorization": f"Bearer {token}"}) == 201

        token = _token(token_server, f"repository:{shared}:pull,push", bob).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert _push_blob(client, token_registry.url, shared, b"x", headers) == 401
        assert client.get(f"{token_registry.url}/v2/{shared}/tags/list", headers=headers).status_code == 404


def test_anonymous_token_pulls_public_only(token_registry: RegistryHandle, token_server: TokenServer) -> None:
    public = unique_repo("public")
    token = _token(token_server, f"repository:{public}:pull,push", None).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client() as client:
        assert client.get(f"{token_registry.url}/v2/{public}/tags/list", headers=headers).status_code == 404
        assert _push_blob(client, token_registry.url, public, b"x", headers) == 401
