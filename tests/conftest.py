"""Shared fixtures: real registries (plain, TLS, basic auth, token auth) and a breaking proxy.

Registries are session-scoped for speed; tests keep apart by using `unique_repo()` names.
Token-registry grants (see TOKEN_GRANTS): `alice` may do anything; `bob` may pull and push
under `bob/`, pull under `shared/`; anyone (anonymous too) may pull under `public/`.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable, Iterator

import pytest

from tests.fixtures.faultproxy import FaultProxy, FaultSchedule
from tests.fixtures.registry import RegistryHandle, RegistryServer, unique_repo
from tests.fixtures.scripted_server import ScriptedServer
from tests.fixtures.tcp_proxy import BreakingProxy
from tests.fixtures.tls import ClientCert, issue_server_certs
from tests.fixtures.token_server import Grant, TokenPolicy, TokenServer

# A suite started in the background of a non-interactive shell (`./tasks test &`, nohup) has
# SIGINT ignored, and an ignored signal stays ignored in every builder the tests start: the
# tests that interrupt a build need SIGINT's usual meaning (a handler is reset by exec).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TOKEN_GRANTS = [
    Grant("alice", "*", frozenset({"*"})),
    Grant("bob", "bob/*", frozenset({"pull", "push"})),
    Grant("bob", "shared/*", frozenset({"pull"})),
    Grant(None, "public/*", frozenset({"pull"})),
]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    """Plain-HTTP registry without auth."""
    server = RegistryServer(tmp_path_factory.mktemp("registry-plain")).start()
    try:
        yield server.handle()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    """HTTPS registry whose certificate is signed by a test CA (`handle.ca_file`)."""
    workdir = tmp_path_factory.mktemp("registry-tls")
    server = RegistryServer(workdir, certs=issue_server_certs(workdir / "certs")).start()
    try:
        yield server.handle()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mtls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryHandle, ClientCert]]:
    """HTTPS registry that asks every client for a certificate of its client CA (mutual TLS);
    yields the handle and the client certificate it accepts."""
    workdir = tmp_path_factory.mktemp("registry-mtls")
    certs = issue_server_certs(workdir / "certs", client_auth=True)
    server = RegistryServer(workdir, certs=certs).start()
    try:
        assert certs.client is not None
        yield server.handle(), certs.client
    finally:
        server.stop()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    """Plain-HTTP registry with htpasswd (bcrypt) basic auth; the login is on the handle."""
    user, password = "tester", "pw-" + secrets.token_hex(8)
    server = RegistryServer(tmp_path_factory.mktemp("registry-basic"), htpasswd=(user, password)).start()
    try:
        yield server.handle(user, password)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token_server() -> Iterator[TokenServer]:
    policy = TokenPolicy(
        users={"alice": "alice-" + secrets.token_hex(8), "bob": "bob-" + secrets.token_hex(8)},
        grants=list(TOKEN_GRANTS),
    )
    server = TokenServer(policy).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer
) -> Iterator[RegistryHandle]:
    """Plain-HTTP registry with bearer-token auth from `token_server`; logged in as alice."""
    server = RegistryServer(tmp_path_factory.mktemp("registry-token"), token_server=token_server).start()
    try:
        yield server.handle("alice", token_server.policy.users["alice"])
    finally:
        server.stop()


@pytest.fixture
def short_tokens(token_server: TokenServer) -> Iterator[Callable[..., None]]:
    """Call with a lifetime in seconds (and optionally the longer lifetime the token server
    claims in `expires_in`) to make it issue short-lived tokens; restored after the test."""
    policy = token_server.policy
    before = (policy.lifetime, policy.advertised_lifetime)

    def set_lifetime(seconds: float, advertised: float | None = None) -> None:
        policy.lifetime, policy.advertised_lifetime = seconds, advertised

    yield set_lifetime
    policy.lifetime, policy.advertised_lifetime = before


@pytest.fixture
def breaking_proxy() -> Iterator[Callable[[RegistryHandle], tuple[BreakingProxy, RegistryHandle]]]:
    """Factory: put a BreakingProxy in front of a registry; returns the proxy and a handle
    that reaches the registry through it."""
    proxies: list[BreakingProxy] = []

    def make(target: RegistryHandle) -> tuple[BreakingProxy, RegistryHandle]:
        host, port = target.host.rsplit(":", 1)
        proxy = BreakingProxy(host, int(port)).start()
        proxies.append(proxy)
        scheme = target.url.split("://", 1)[0]
        via = RegistryHandle(
            host=proxy.host,
            url=f"{scheme}://{proxy.host}",
            ca_file=target.ca_file,
            username=target.username,
            password=target.password,
            storage=target.storage,
        )
        return proxy, via

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A fresh repository name for this test."""
    return unique_repo("test")


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server for faults a real registry cannot produce on demand."""
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., tuple[FaultProxy, RegistryHandle]]]:
    """Factory: fault_proxy(registry, seed=, rate=, faults=...) -> (proxy, handle via it).
    With the default rate 0 it only records: `proxy.stats.seen` counts the requests."""
    proxies: list[FaultProxy] = []

    def make(target: RegistryHandle, **schedule: object) -> tuple[FaultProxy, RegistryHandle]:
        host, port = target.host.rsplit(":", 1)
        proxy = FaultProxy(host, int(port), FaultSchedule(**schedule)).start()  # type: ignore[arg-type]
        proxies.append(proxy)
        via = RegistryHandle(
            host=proxy.host, url=f"http://{proxy.host}", username=target.username,
            password=target.password, storage=target.storage,
        )
        return proxy, via

    yield make
    for proxy in proxies:
        proxy.stop()
