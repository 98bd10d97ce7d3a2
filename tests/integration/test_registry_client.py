"""RegistryClient against a real plain-HTTP registry: manifests of all four media types,
blobs, mounts, tags, error bodies, digest verification; skopeo reads what we push."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
import pytest

from builder.errors import DigestMismatchError, NotFoundError, RegistryError, TLSError
from builder.oci import mediatypes as mt
from builder.oci.raw import RawManifest
from builder.reference import Reference
from builder.registry import RegistryClient, RegistryOptions
from tests.fixtures.pushed import push_blob, push_image, push_index, random_blob
from tests.fixtures.registry import RegistryHandle, unique_repo


@pytest.fixture
def client(registry: RegistryHandle) -> Iterator[RegistryClient]:
    with RegistryClient(registry.options()) as c:
        yield c


def stored(registry: RegistryHandle, ref: Reference, digest: str) -> bool:
    """Asked by a client of its own: the one under test remembers what it pushed."""
    with RegistryClient(registry.options()) as fresh:
        return fresh.has_blob(ref, digest)


def test_blobs_seen_present_are_not_asked_for_again(
    client: RegistryClient, registry: RegistryHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = registry.ref(unique_repo()), registry.ref(unique_repo())
    blob, other = random_blob(1000), random_blob(1000)
    push_blob(client, source, blob)
    push_blob(client, source, other)
    assert client.mount_blob(target, blob.descriptor, source)
    asked: list[str] = []
    conn = client.connection(registry.host)
    real_send = conn.send

    def counting_send(method: str, path: str, **kwargs: Any) -> httpx.Response:
        asked.append(f"{method} {path}")
        return real_send(method, path, **kwargs)

    monkeypatch.setattr(conn, "send", counting_send)
    assert client.has_blob(source, blob.descriptor.digest)  # uploaded
    assert client.has_blob(source, other.descriptor.digest)
    assert client.has_blob(target, blob.descriptor.digest)  # mounted
    assert asked == []
    assert client.has_blob(target, other.descriptor.digest) is False  # not there: asked
    assert len(asked) == 1


def skopeo_raw(image: str, *extra: str) -> bytes:
    return subprocess.run(
        ["skopeo", "inspect", "--raw", *extra, f"docker://{image}"], check=True, capture_output=True
    ).stdout


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
def test_manifest_and_index_round_trip_in_every_media_type(
    client: RegistryClient, registry: RegistryHandle, docker: bool
) -> None:
    repo = unique_repo()
    amd = push_image(client, registry.ref(repo, tag="amd64"), docker=docker)
    arm = push_image(client, registry.ref(repo, tag="arm64"), docker=docker)
    index = push_index(client, registry.ref(repo, tag="multi"), [amd, arm], docker=docker)
    assert index.media_type == (mt.DOCKER_MANIFEST_LIST if docker else mt.OCI_INDEX)
    assert amd.manifest.media_type == (mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST)

    for raw, tag in ((amd.manifest, "amd64"), (index, "multi")):
        by_tag = client.get_manifest(registry.ref(repo, tag=tag))
        by_digest = client.get_manifest(registry.ref(repo, digest=raw.digest))
        assert by_tag == by_digest == raw
        assert client.head_manifest(registry.ref(repo, tag=tag)) == raw.descriptor()
        assert skopeo_raw(registry.image(repo, tag), "--tls-verify=false") == raw.data

    assert [d.digest for d in index.index().manifests] == [amd.manifest.digest, arm.manifest.digest]


def test_manifest_bytes_are_kept_exactly(client: RegistryClient, registry: RegistryHandle) -> None:
    repo = unique_repo()
    image = push_image(client, registry.ref(repo, tag="base"))
    body = json.loads(image.manifest.data)
    odd = json.dumps({"layers": body["layers"], "config": body["config"], "schemaVersion": 2,
                      "mediaType": mt.OCI_MANIFEST, "annotations": {"z": "1"}}, indent=3).encode()
    raw = RawManifest.from_bytes(odd)
    ref = registry.ref(repo, tag="odd")
    assert client.put_manifest(ref, raw) == raw.digest
    assert client.get_manifest(ref).data == odd
    assert client.put_manifest(registry.ref(repo, digest=raw.digest), raw) == raw.digest


def test_missing_manifest_and_blob(client: RegistryClient, registry: RegistryHandle) -> None:
    repo = unique_repo()
    ref = registry.ref(repo, tag="nope")
    assert client.head_manifest(ref) is None
    with pytest.raises(NotFoundError, match=f"manifest {registry.host}/{repo}:nope: not found"):
        client.get_manifest(ref)
    blob = random_blob(10)
    assert not client.has_blob(ref.repository_ref(), blob.descriptor.digest)
    with pytest.raises(NotFoundError, match="BLOB_UNKNOWN"):
        with client.open_blob(ref.repository_ref(), blob.descriptor) as chunks:
            b"".join(chunks)


def test_registry_error_body_is_shown(client: RegistryClient, registry: RegistryHandle) -> None:
    repo = unique_repo()
    image = push_image(client, registry.ref(repo, tag="a"))
    manifest = image.manifest.manifest()
    manifest.layers = [random_blob(5, mt.OCI_LAYER_GZIP).descriptor]
    with pytest.raises(RegistryError, match="MANIFEST_BLOB_UNKNOWN") as err:
        client.put_manifest(registry.ref(repo, tag="broken"), RawManifest.of(manifest))
    assert err.value.status == 400
    assert client.head_manifest(registry.ref(repo, tag="broken")) is None


def test_blob_round_trip_and_skip_when_present(client: RegistryClient, registry: RegistryHandle) -> None:
    ref = registry.ref(unique_repo())
    blob = random_blob(300_000)
    opened = []

    def open_content() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(blob.data)

    client.upload_blob(ref, blob.descriptor, open_content)
    client.upload_blob(ref, blob.descriptor, open_content)
    assert len(opened) == 1
    assert stored(registry, ref, blob.descriptor.digest)
    with client.open_blob(ref, blob.descriptor) as chunks:
        assert b"".join(chunks) == blob.data


@pytest.mark.parametrize("second_client", [False, True], ids=["one-client", "two-clients"])
def test_concurrent_uploads_of_one_blob_take_turns(
    client: RegistryClient, registry: RegistryHandle, second_client: bool
) -> None:
    """Two cache entries (or two platforms of one build, each with a client) push one layer
    at once; a second upload while the first runs rewrote the registry's link of the blob,
    and a manifest PUT reading it then failed with MANIFEST_BLOB_UNKNOWN / DIGEST_INVALID.
    The second caller now waits, and finds the blob remembered or asks the registry."""
    ref = registry.ref(unique_repo())
    blob = random_blob(300_000)
    opened: list[str] = []
    first_uploading, second_called = threading.Event(), threading.Event()

    def open_first() -> io.BytesIO:
        opened.append("first")
        first_uploading.set()
        second_called.wait()
        return io.BytesIO(blob.data)

    def open_second() -> io.BytesIO:
        opened.append("second")
        return io.BytesIO(blob.data)

    def second() -> None:
        first_uploading.wait()
        second_called.set()
        with RegistryClient(registry.options()) if second_client else nullcontext(client) as other_client:
            other_client.upload_blob(ref, blob.descriptor, open_second, known_missing=True)

    other = threading.Thread(target=second)
    other.start()
    client.upload_blob(ref, blob.descriptor, open_first, known_missing=True)
    other.join()
    assert opened == ["first"]
    assert stored(registry, ref, blob.descriptor.digest)


def test_a_blob_this_process_uploaded_is_asked_for_not_uploaded_again(
    client: RegistryClient, registry: RegistryHandle
) -> None:
    """A second client that found the blob missing before the first client's upload ended
    asks again rather than rewriting the registry's link under the first one's manifest."""
    ref = registry.ref(unique_repo())
    blob = random_blob(1000)
    opened: list[int] = []

    def open_content() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(blob.data)

    with RegistryClient(registry.options()) as second:
        assert second.has_blob(ref, blob.descriptor.digest) is False
        client.upload_blob(ref, blob.descriptor, open_content, known_missing=True)
        second.upload_blob(ref, blob.descriptor, open_content, known_missing=True)
    assert opened == [1]


def test_chunked_upload(registry: RegistryHandle) -> None:
    ref = registry.ref(unique_repo())
    blob = random_blob(700_000)
    options = registry.options(chunked_threshold=100_000, chunk_size=200_000)
    with RegistryClient(options) as client:
        push_blob(client, ref, blob)
        with client.open_blob(ref, blob.descriptor) as chunks:
            assert b"".join(chunks) == blob.data


def test_mount_and_mount_fallback(client: RegistryClient, registry: RegistryHandle) -> None:
    source, target = registry.ref(unique_repo()), registry.ref(unique_repo())
    blob = random_blob(1000)
    push_blob(client, source, blob)
    assert client.mount_blob(target, blob.descriptor, source)
    assert stored(registry, target, blob.descriptor.digest)

    absent = random_blob(1000)
    assert not client.mount_blob(target, absent.descriptor, source)
    push_blob(client, target, absent)
    assert stored(registry, target, absent.descriptor.digest)
    other_registry = registry.ref(unique_repo())
    other_registry = type(other_registry)("elsewhere.example", other_registry.repository)
    assert not client.mount_blob(target, blob.descriptor, other_registry)


def test_tags_of_unknown_repository(client: RegistryClient, registry: RegistryHandle) -> None:
    repo = unique_repo()
    image = push_image(client, registry.ref(repo, tag="t0"))
    client.put_manifest(registry.ref(repo, tag="t1"), image.manifest)
    assert sorted(client.list_tags(registry.ref(repo))) == ["t0", "t1"]
    assert client.list_tags(registry.ref(unique_repo())) == []


def _blob_data_path(storage: Path, digest: str) -> Path:
    hex_ = digest.split(":", 1)[1]
    return storage / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


def test_corrupted_blob_is_rejected_on_download(client: RegistryClient, registry: RegistryHandle) -> None:
    ref = registry.ref(unique_repo())
    blob = random_blob(50_000)
    push_blob(client, ref, blob)
    assert registry.storage is not None
    data_file = _blob_data_path(registry.storage, blob.descriptor.digest)
    data_file.write_bytes(bytes(len(blob.data)))
    with pytest.raises(DigestMismatchError, match=f"expected {blob.descriptor.digest}"):
        with client.open_blob(ref, blob.descriptor) as chunks:
            for _ in chunks:
                pass


def test_corrupted_manifest_is_rejected(client: RegistryClient, registry: RegistryHandle) -> None:
    repo = unique_repo()
    image = push_image(client, registry.ref(repo, tag="v"))
    assert registry.storage is not None
    path = _blob_data_path(registry.storage, image.manifest.digest)
    path.write_bytes(image.manifest.data.replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    with pytest.raises(DigestMismatchError):
        client.get_manifest(registry.ref(repo, digest=image.manifest.digest))


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost"])
def test_loopback_registry_is_reached_over_plain_http_without_a_flag(
    registry: RegistryHandle, spelling: str
) -> None:
    host = registry.host.replace("127.0.0.1", spelling)
    ref = Reference(registry=host, repository=unique_repo())
    blob = random_blob(3000)
    with RegistryClient(RegistryOptions(), env={}) as client:
        push_blob(client, ref, blob)
    with RegistryClient(RegistryOptions(), env={}) as fresh:
        assert fresh.has_blob(ref, blob.descriptor.digest)


def test_other_hosts_never_fall_back_to_plain_http(
    registry: RegistryHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`registry.test` resolves to the loopback registry inside this test only; by name it is
    an ordinary remote host, so only --insecure-registry lets it use plain HTTP."""
    resolve = socket.getaddrinfo

    def resolve_in_test(name: object, *args: object, **kwargs: object) -> object:
        return resolve("127.0.0.1" if name == "registry.test" else name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve_in_test)
    host = registry.host.replace("127.0.0.1", "registry.test")
    ref = Reference(registry=host, repository=unique_repo())
    digest = random_blob(1).descriptor.digest
    with RegistryClient(RegistryOptions(), env={}) as client:
        with pytest.raises(TLSError, match="does not speak TLS") as err:
            client.has_blob(ref, digest)
    assert f"--insecure-registry {host}" in (err.value.hint or "")
    with RegistryClient(RegistryOptions(insecure=frozenset({host})), env={}) as client:
        assert not client.has_blob(ref, digest)
