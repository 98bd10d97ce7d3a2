"""Registry behaviour distribution 2.8 cannot produce on demand, from a scripted server:
retries (429 + Retry-After, 5xx, bounded), no retry on 401/403/404, redirects to another
host without Authorization, paginated tag lists."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from builder.errors import AuthError, NotFoundError, RegistryError
from builder.reference import Reference
from builder.registry import Credential, RegistryClient, RegistryOptions, RetryPolicy
from builder.registry.connection import retry_after_seconds
from tests.fixtures.pushed import random_blob
from tests.fixtures.scripted_server import Reply, ScriptedServer, Seen

FAST = RetryPolicy(attempts=3, max_seconds=10, initial_delay=0.01, max_delay=0.05)
BLOB = random_blob(100)
BLOB_PATH = f"/v2/app/blobs/{BLOB.descriptor.digest}"


def client_for(*servers: ScriptedServer, **options: object) -> RegistryClient:
    hosts = frozenset(s.host for s in servers)
    return RegistryClient(RegistryOptions(insecure=hosts, retry=FAST, **options), env={})


@pytest.fixture
def other_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    yield server
    server.stop()


def replies(*answers: Reply):
    remaining = list(answers)
    return lambda _seen: remaining.pop(0) if len(remaining) > 1 else remaining[0]


def count(server: ScriptedServer, method: str, path: str) -> int:
    return sum(1 for s in server.seen if s.method == method and s.path.split("?")[0] == path)


def test_429_and_5xx_are_retried(scripted_server: ScriptedServer) -> None:
    scripted_server.route(
        "HEAD", BLOB_PATH, replies(Reply(429, {"Retry-After": "0"}), Reply(503), Reply(200))
    )
    with client_for(scripted_server) as client:
        assert client.has_blob(Reference(scripted_server.host, "app"), BLOB.descriptor.digest)
    assert count(scripted_server, "HEAD", BLOB_PATH) == 3


def test_retries_are_bounded(scripted_server: ScriptedServer) -> None:
    body = {"errors": [{"code": "UNAVAILABLE", "message": "overloaded"}]}
    scripted_server.route("GET", "/v2/app/tags/list", lambda _: Reply.json(503, body))
    with client_for(scripted_server) as client:
        with pytest.raises(RegistryError, match="503 .*UNAVAILABLE: overloaded"):
            client.list_tags(Reference(scripted_server.host, "app"))
    assert count(scripted_server, "GET", "/v2/app/tags/list") == FAST.attempts


@pytest.mark.parametrize("status,error", [(401, AuthError), (403, AuthError), (404, NotFoundError)])
def test_client_errors_are_not_retried(scripted_server: ScriptedServer, status: int, error: type) -> None:
    scripted_server.route("GET", "/v2/app/tags/list", lambda _: Reply.json(status, {"errors": [{"code": "DENIED"}]}))
    with client_for(scripted_server) as client:
        with pytest.raises(error):
            client.list_tags(Reference(scripted_server.host, "app"))
    assert count(scripted_server, "GET", "/v2/app/tags/list") == 1


def test_redirect_to_another_host_drops_authorization(
    scripted_server: ScriptedServer, other_server: ScriptedServer
) -> None:
    login = Credential(username="u", password="secret-pw", source="test")
    expected = "Basic " + base64.b64encode(b"u:secret-pw").decode()

    def v2(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == expected:
            return Reply(200)
        return Reply(401, {"WWW-Authenticate": 'Basic realm="test"'})

    scripted_server.route("GET", "/v2/", v2)
    scripted_server.route(
        "GET", BLOB_PATH, lambda _: Reply(307, {"Location": f"http://{other_server.host}/storage/blob"})
    )
    other_server.route("GET", "/storage/blob", lambda _: Reply(200, body=BLOB.data))
    with client_for(scripted_server, other_server, credentials={scripted_server.host: login}) as client:
        with client.open_blob(Reference(scripted_server.host, "app"), BLOB.descriptor) as chunks:
            assert b"".join(chunks) == BLOB.data
    blob_request = next(s for s in scripted_server.seen if s.path == BLOB_PATH)
    assert blob_request.headers.get("Authorization") == expected
    storage_request = next(s for s in other_server.seen if s.path == "/storage/blob")
    assert "Authorization" not in storage_request.headers


def test_tags_follow_link_pages(scripted_server: ScriptedServer) -> None:
    def tags(seen: Seen) -> Reply:
        if "last=b" in seen.path:
            return Reply.json(200, {"name": "app", "tags": ["c"]})
        return Reply.json(
            200, {"name": "app", "tags": ["a", "b"]}, Link='</v2/app/tags/list?n=2&last=b>; rel="next"'
        )

    scripted_server.route("GET", "/v2/app/tags/list", tags)
    with client_for(scripted_server) as client:
        assert client.list_tags(Reference(scripted_server.host, "app")) == ["a", "b", "c"]


def test_malformed_registry_json_is_a_clear_error(scripted_server: ScriptedServer) -> None:
    scripted_server.route("GET", "/v2/app/tags/list", lambda _: Reply(200, {"Content-Type": "application/json"}, b"{nope"))
    with client_for(scripted_server) as client:
        with pytest.raises(RegistryError, match="malformed JSON"):
            client.list_tags(Reference(scripted_server.host, "app"))


@pytest.mark.parametrize(
    "value,seconds", [("3", 3.0), ("0", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)]
)
def test_retry_after_parsing(value: str, seconds: float | None) -> None:
    response = httpx.Response(429, headers={"Retry-After": value})
    assert retry_after_seconds(response) == seconds
