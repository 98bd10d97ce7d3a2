"""Registries that lie (ScriptedServer: the real one cannot): wrong manifest/config/blob
digests, a declared 100 GiB blob, malformed JSON, redirect loops. Each is refused with a
clear one-line error, nothing lands in the store or the destination layout."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from builder.errors import MultiarchError
from builder.registry import RegistryOptions
from builder.transports import TransportContext, copy_image, open_destination, open_source
from tests.fixtures.scripted_server import Reply, ScriptedServer
from tests.reliability.conftest import FAST_RETRY
from tests.reliability.helpers import environ, last_line, run_cli, write_context

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO = "evil/image"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def desc(media_type: str, data: bytes, **override: object) -> dict:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data), **override}


LAYER = gzip.compress(b"not even a tar" * 100, mtime=0)
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest(b"x")]}}).encode()


def manifest(config: dict | None = None, layer: dict | None = None) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": config or desc("application/vnd.oci.image.config.v1+json", CONFIG),
        "layers": [layer or desc("application/vnd.oci.image.layer.v1.tar+gzip", LAYER)],
    }).encode()


def serve_manifest(server: ScriptedServer, body: bytes, *, claimed: str | None = None) -> None:
    reply = Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": claimed or digest(body)}, body)
    server.route("GET", f"/v2/{REPO}/manifests/v1", lambda _: reply)
    server.route("HEAD", f"/v2/{REPO}/manifests/v1", lambda _: reply)


def serve_blob(server: ScriptedServer, name: str, body: bytes) -> None:
    server.route("GET", f"/v2/{REPO}/blobs/{name}", lambda _: Reply(200, {"Content-Type": "application/octet-stream"}, body))


HUGE = 100 << 30
CORRUPT_LAYER = LAYER[:-10] + b"x" * 10


def scenario(server: ScriptedServer, name: str) -> str:
    """Set up `server` for the scenario; return a word the error must contain."""
    config_desc = desc("application/vnd.oci.image.config.v1+json", CONFIG)
    if name == "manifest-digest":
        serve_manifest(server, manifest(), claimed=digest(b"something else"))
        return "digest"
    if name == "malformed-json":
        serve_manifest(server, b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'", "layers": [')
        return "manifest"
    if name == "redirect-loop":
        loop = Reply(307, {"Location": f"/v2/{REPO}/manifests/v1"})
        server.route("GET", f"/v2/{REPO}/manifests/v1", lambda _: loop)
        server.route("HEAD", f"/v2/{REPO}/manifests/v1", lambda _: loop)
        return "redirect"
    serve_blob(server, config_desc["digest"], CONFIG)
    if name == "config-digest":
        serve_manifest(server, manifest())
        serve_blob(server, config_desc["digest"], CONFIG.replace(b"amd64", b"arm64"))
        serve_blob(server, digest(LAYER), LAYER)
        return "digest"
    if name == "huge-config":
        serve_manifest(server, manifest(config=desc("application/vnd.oci.image.config.v1+json", CONFIG, size=HUGE)))
        serve_blob(server, digest(LAYER), LAYER)
        return str(HUGE)
    if name == "huge-layer":
        serve_manifest(server, manifest(layer=desc("application/vnd.oci.image.layer.v1.tar+gzip", LAYER, size=HUGE)))
        serve_blob(server, digest(LAYER), LAYER)
        return str(HUGE)
    if name == "layer-digest":
        serve_manifest(server, manifest())
        serve_blob(server, digest(LAYER), CORRUPT_LAYER)
        return "digest"
    raise AssertionError(name)


SCENARIOS = ["manifest-digest", "malformed-json", "redirect-loop", "config-digest", "huge-config", "huge-layer",
             "layer-digest"]


def assert_nothing_kept(root: Path) -> None:
    """No blob is stored under a digest it does not have; verified ones may stay."""
    blobs = root / "blobs" / "sha256"
    for blob in blobs.glob("*") if blobs.exists() else ():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, f"kept a lie: {blob}"
        assert blob.read_bytes() != CORRUPT_LAYER, f"kept an unverified blob: {blob}"


def assert_nothing_published(layout: Path) -> None:
    assert not (layout / "index.json").exists() or "v1" not in (layout / "index.json").read_text()
    assert_nothing_kept(layout)


@pytest.mark.parametrize("name", SCENARIOS)
def test_lying_registry_is_refused_by_copy(tmp_path: Path, scripted_server: ScriptedServer, name: str) -> None:
    """In process (the client's refusal is what differs between scenarios); the CLI's
    rendering of such an error is the next test."""
    expect = scenario(scripted_server, name)
    layout = tmp_path / "layout"
    options = RegistryOptions(insecure=frozenset({scripted_server.host}), retry=FAST_RETRY)
    ctx = TransportContext(registry_options=options)
    try:
        with pytest.raises(MultiarchError) as refused:
            source = open_source(f"docker://{scripted_server.host}/{REPO}:v1", ctx)
            destination = open_destination(f"oci:{layout}:v1", ctx)
            try:
                copy_image(source, destination)
            finally:
                destination.close()
    finally:
        ctx.close()
    message = f"{refused.value.message} {refused.value.hint or ''}"
    assert "\n" not in refused.value.message and expect in message.lower(), message
    assert_nothing_published(layout)


def test_lying_registry_is_one_clear_line_from_the_cli(tmp_path: Path, scripted_server: ScriptedServer) -> None:
    expect = scenario(scripted_server, "layer-digest")
    layout = tmp_path / "layout"
    done = run_cli("copy", "--src-tls-verify=false", f"docker://{scripted_server.host}/{REPO}:v1", f"oci:{layout}:v1",
                   env=environ(MULTIARCH_RETRY_ATTEMPTS="2", MULTIARCH_RETRY_INITIAL_DELAY="0.01"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert last_line(done).startswith(("error:", "hint:")) and expect in done.stderr.lower(), done.stderr
    assert_nothing_published(layout)


@pytest.mark.parametrize("name", ["layer-digest", "huge-layer", "config-digest"])
def test_lying_base_image_fails_the_build_and_caches_nothing(
    tmp_path: Path, scripted_server: ScriptedServer, name: str
) -> None:
    expect = scenario(scripted_server, name)
    context = write_context(tmp_path / "ctx", f"FROM {scripted_server.host}/{REPO}:v1\nRUN true\n")
    store = tmp_path / "store"
    done = run_cli("executor", "--context", str(context), "--dockerfile", str(context / "Dockerfile"), "--no-push",
                   "--insecure-registry", scripted_server.host,
                   env=environ(MULTIARCH_CACHE_DIR=str(store), MULTIARCH_RETRY_ATTEMPTS="2"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert expect in done.stderr.lower(), done.stderr
    assert_nothing_kept(store)
