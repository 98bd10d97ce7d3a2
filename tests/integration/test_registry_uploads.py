"""Uploads through a real TCP proxy that breaks connections: chunked uploads resume from the
registry's upload status, or start over when distribution has dropped the session."""

from __future__ import annotations

from collections.abc import Callable

from builder.registry import RegistryClient, RetryPolicy
from tests.fixtures.pushed import push_blob, random_blob
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.tcp_proxy import BreakingProxy

CHUNK = 256 * 1024
SIZE = 4 * CHUNK + 1000
FAST = RetryPolicy(attempts=4, max_seconds=30, initial_delay=0.01, max_delay=0.05)

MakeProxy = Callable[[RegistryHandle], tuple[BreakingProxy, RegistryHandle]]


def chunked_client(via: RegistryHandle) -> RegistryClient:
    return RegistryClient(via.options(chunked_threshold=CHUNK, chunk_size=CHUNK, retry=FAST), env={})


def check_stored(registry: RegistryHandle, repo: str, blob) -> None:
    with RegistryClient(registry.options(), env={}) as direct:
        with direct.open_blob(registry.ref(repo), blob.descriptor) as chunks:
            assert b"".join(chunks) == blob.data


def test_chunked_upload_resumes_after_broken_connection(
    registry: RegistryHandle, breaking_proxy: MakeProxy
) -> None:
    proxy, via = breaking_proxy(registry)
    repo, blob = unique_repo(), random_blob(SIZE)
    proxy.cut_before(b"PATCH ", 3)
    with chunked_client(via) as client:
        push_blob(client, via.ref(repo), blob)
    assert proxy.cuts == 1
    # Resumed, not restarted: every byte went over the wire about once.
    assert proxy.client_bytes < SIZE + CHUNK // 2
    check_stored(registry, repo, blob)


def test_chunked_upload_starts_over_when_the_registry_drops_the_session(
    registry: RegistryHandle, breaking_proxy: MakeProxy
) -> None:
    proxy, via = breaking_proxy(registry)
    repo, blob = unique_repo(), random_blob(SIZE)
    # Cut in the middle of the second chunk's body: distribution keeps the partial bytes,
    # then cancels the upload because its size no longer matches the state it issued.
    proxy.cut_after(CHUNK + CHUNK // 2)
    with chunked_client(via) as client:
        push_blob(client, via.ref(repo), blob)
    assert proxy.cuts == 1
    assert proxy.client_bytes > SIZE + CHUNK // 2
    check_stored(registry, repo, blob)


def test_monolithic_upload_is_retried_after_broken_connection(
    registry: RegistryHandle, breaking_proxy: MakeProxy
) -> None:
    proxy, via = breaking_proxy(registry)
    repo, blob = unique_repo(), random_blob(200_000)
    proxy.cut_after(100_000)
    with RegistryClient(via.options(retry=FAST), env={}) as client:
        push_blob(client, via.ref(repo), blob)
    assert proxy.cuts == 1
    check_stored(registry, repo, blob)


def test_download_resumes_with_a_range_request(registry: RegistryHandle, breaking_proxy: MakeProxy) -> None:
    repo, blob = unique_repo(), random_blob(SIZE)
    with RegistryClient(registry.options(), env={}) as direct:
        push_blob(direct, registry.ref(repo), blob)
    proxy, via = breaking_proxy(registry)
    with RegistryClient(via.options(retry=FAST), env={}) as client:
        proxy.cut_download_after(SIZE // 2)
        with client.open_blob(via.ref(repo), blob.descriptor) as chunks:
            assert b"".join(chunks) == blob.data
    assert proxy.cuts == 1
