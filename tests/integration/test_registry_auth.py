"""Basic and Bearer auth against real registries: logins, scope denials, anonymous tokens,
identity tokens, the token cache, and refresh when the registry rejects an expired token
(also in the middle of a chunked upload)."""

from __future__ import annotations

import io
from typing import BinaryIO

import httpx
import pytest

from builder.errors import AuthError
from builder.pool import shared_connections
from builder.registry import Credential, RegistryClient, RegistryOptions
from tests.fixtures.pushed import push_blob, push_image, random_blob
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.token_server import SERVICE, TokenServer
from tests.fixtures.waiting import wait_for


def login(handle: RegistryHandle, user: str, password: str, source: str = "test login") -> dict:
    return {handle.host: Credential(username=user, password=password, source=source)}


def test_basic_auth_push_and_pull(basic_registry: RegistryHandle) -> None:
    repo = unique_repo()
    with RegistryClient(basic_registry.options(), env={}) as client:
        image = push_image(client, basic_registry.ref(repo, tag="v1"))
        assert client.get_manifest(basic_registry.ref(repo, tag="v1")) == image.manifest


def test_basic_auth_wrong_password_names_the_source_not_the_secret(basic_registry: RegistryHandle) -> None:
    wrong = "wrong-password-123"
    options = basic_registry.options(credentials=login(basic_registry, "tester", wrong, "my login"))
    with RegistryClient(options, env={}) as client:
        with pytest.raises(AuthError) as err:
            push_blob(client, basic_registry.ref(unique_repo("bob")), random_blob(10))
    message = str(err.value)
    assert "unauthorized" in message and "credentials: my login" in message
    assert "scope asked: repository:bob/" in message
    assert wrong not in message and wrong not in (err.value.hint or "")


def test_basic_auth_anonymous_is_refused(basic_registry: RegistryHandle) -> None:
    with RegistryClient(basic_registry.options(with_credentials=False), env={}) as client:
        with pytest.raises(AuthError, match=r"no credentials \(anonymous\)"):
            client.list_tags(basic_registry.ref(unique_repo()))


def test_token_auth_push_pull_and_token_cache(token_registry: RegistryHandle, token_server: TokenServer) -> None:
    repo = unique_repo("alice")
    before = len(token_server.requests)
    with RegistryClient(token_registry.options(), env={}) as client:
        image = push_image(client, token_registry.ref(repo, tag="v1"))
        assert client.get_manifest(token_registry.ref(repo, tag="v1")) == image.manifest
        assert client.list_tags(token_registry.ref(repo)) == ["v1"]
    asked = [r.scopes for r in token_server.requests[before:]]
    # One token per distinct scope set, reused for every request with that scope.
    assert sorted(asked) == sorted({scopes for scopes in asked})
    assert (f"repository:{repo}:pull,push",) in asked and (f"repository:{repo}:pull",) in asked


def test_token_scope_denied(token_registry: RegistryHandle, token_server: TokenServer) -> None:
    shared = unique_repo("shared")
    with RegistryClient(token_registry.options(), env={}) as alice:
        image = push_image(alice, token_registry.ref(shared, tag="v1"))
    bob = login(token_registry, "bob", token_server.policy.users["bob"], "bob's login")
    with RegistryClient(token_registry.options(credentials=bob), env={}) as client:
        assert client.get_manifest(token_registry.ref(shared, tag="v1")) == image.manifest
        with pytest.raises(AuthError) as err:
            client.put_manifest(token_registry.ref(shared, tag="v2"), image.manifest)
    message = str(err.value)
    assert f"scope asked: repository:{shared}:pull,push" in message
    assert "bob's login" in message
    assert token_server.policy.users["bob"] not in message


def test_token_wrong_password(token_registry: RegistryHandle) -> None:
    options = token_registry.options(credentials=login(token_registry, "alice", "not-her-password"))
    with RegistryClient(options, env={}) as client:
        with pytest.raises(AuthError, match="token service .* rejected the login from test login") as err:
            client.list_tags(token_registry.ref(unique_repo("alice")))
    assert "not-her-password" not in str(err.value)


def test_anonymous_token_pulls_public(token_registry: RegistryHandle) -> None:
    public = unique_repo("public")
    with RegistryClient(token_registry.options(), env={}) as alice:
        image = push_image(alice, token_registry.ref(public, tag="v1"))
    with RegistryClient(token_registry.options(with_credentials=False), env={}) as anonymous:
        assert anonymous.get_manifest(token_registry.ref(public, tag="v1")) == image.manifest
        with pytest.raises(AuthError, match="anonymous"):
            anonymous.put_manifest(token_registry.ref(public, tag="v2"), image.manifest)


def test_identity_token_from_docker_config(token_registry: RegistryHandle, token_server: TokenServer, tmp_path) -> None:
    refresh = token_server.add_refresh_token("alice")
    (tmp_path / "config.json").write_text(
        '{"auths": {"%s": {"identitytoken": "%s"}}}' % (token_registry.host, refresh)
    )
    options = token_registry.options(with_credentials=False, docker_config=tmp_path)
    with RegistryClient(options, env={}) as client:
        push_image(client, token_registry.ref(unique_repo("alice"), tag="v1"))


def _wait_until_registry_rejects_tokens_issued_now(registry: RegistryHandle, server: TokenServer, repo: str) -> None:
    """Tokens issued before this call expire no later than one issued now; poll the registry
    with that one until it is refused (tokens here live about a second)."""
    alice = ("alice", server.policy.users["alice"])
    token = httpx.get(server.realm, params={"service": SERVICE, "scope": f"repository:{repo}:pull"}, auth=alice).json()["token"]
    url = f"{registry.url}/v2/{repo}/tags/list"
    wait_for(
        lambda: httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401,
        timeout=10,
        what="the registry to reject an expired token",
    )


def test_expired_token_is_refreshed_on_401(
    token_registry: RegistryHandle, token_server: TokenServer, short_tokens
) -> None:
    short_tokens(1, advertised=300)
    repo = unique_repo("alice")
    with RegistryClient(token_registry.options(), env={}) as client:
        image = push_image(client, token_registry.ref(repo, tag="v1"))
        issued = len(token_server.requests)
        _wait_until_registry_rejects_tokens_issued_now(token_registry, token_server, repo)
        assert client.get_manifest(token_registry.ref(repo, tag="v1")) == image.manifest
    assert len(token_server.requests) > issued + 1


class _SlowAfter(io.BytesIO):
    """Content whose reads past `offset` first wait for `condition` (once)."""

    def __init__(self, data: bytes, offset: int, condition) -> None:
        super().__init__(data)
        self._offset, self._condition = offset, condition

    def read(self, size: int | None = -1) -> bytes:
        if self._condition is not None and self.tell() >= self._offset:
            condition, self._condition = self._condition, None
            condition()
        return super().read(size)


def test_token_refreshed_in_the_middle_of_a_chunked_upload(
    token_registry: RegistryHandle, token_server: TokenServer, short_tokens
) -> None:
    short_tokens(1, advertised=300)
    repo, chunk = unique_repo("alice"), 128 * 1024
    blob = random_blob(4 * chunk)
    waited: list[bool] = []

    def expire_tokens() -> None:
        _wait_until_registry_rejects_tokens_issued_now(token_registry, token_server, repo)
        waited.append(True)

    def open_content() -> BinaryIO:
        return _SlowAfter(blob.data, chunk, None if waited else expire_tokens)

    options = token_registry.options(chunked_threshold=chunk, chunk_size=chunk)
    before = len(token_server.requests)
    with RegistryClient(options, env={}) as client:
        client.upload_blob(token_registry.ref(repo), blob.descriptor, open_content)
        assert waited
        with client.open_blob(token_registry.ref(repo), blob.descriptor) as chunks:
            assert b"".join(chunks) == blob.data
    push_tokens = [r for r in token_server.requests[before:] if r.scopes == (f"repository:{repo}:pull,push",)]
    assert len(push_tokens) >= 2


def test_clients_of_one_command_share_connection_and_tokens(token_registry: RegistryHandle,
                                                            token_server: TokenServer) -> None:  # fmt: skip
    """Inside builder.pool.shared_connections() (every CLI command), a second client with the
    same settings reuses the first one's connection and bearer tokens: one token request per
    scope for the whole command; outside, or with another login, each client asks again."""
    repo = unique_repo("shared")
    with RegistryClient(token_registry.options(), env={}) as client:
        push_image(client, token_registry.ref(repo, tag="v1"))

    def tokens_asked(*options: RegistryOptions) -> int:
        before = len(token_server.requests)
        for each in options:
            with RegistryClient(each, env={}) as client:
                client.get_manifest(token_registry.ref(repo, tag="v1"))
        return len(token_server.requests) - before

    alice = token_registry.options()
    assert tokens_asked(alice, alice) == 2
    with shared_connections():
        assert tokens_asked(alice, alice, alice) == 1
        bob = login(token_registry, "bob", token_server.policy.users["bob"], "bob's login")
        assert tokens_asked(token_registry.options(credentials=bob)) == 1
