"""Attestation storage against the real registry: the referrers tag schema (Debian's
docker-registry has no referrers API), the referrers API (the same registry behind
tests/fixtures/referrers_proxy.py), and OCI layouts; read back with list_attestations and
checked with skopeo."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.attest import list_attestations, read_attestation
from builder.attest.artifact import attestation_artifact
from builder.attest.statement import Predicate, statement
from builder.attest.store import attach, referrers_tag
from builder.oci.models import Descriptor, Platform
from builder.reference import Reference
from builder.registry import RegistryClient
from builder.transports import TransportContext
from builder.transports.names import Location
from tests.fixtures.images import image_layout, make_image
from tests.fixtures.pushed import PushedImage, push_image, push_index
from tests.fixtures.referrers_proxy import ReferrersProxy
from tests.fixtures.registry import RegistryHandle, unique_repo

PROVENANCE = "https://slsa.dev/provenance/v1"
SBOM = "https://spdx.dev/Document"


@pytest.fixture(scope="module")
def referrers_registry(registry: RegistryHandle) -> Iterator[RegistryHandle]:
    proxy = ReferrersProxy(registry.host).start()
    try:
        yield RegistryHandle(host=proxy.host, url=f"http://{proxy.host}")
    finally:
        proxy.stop()


def artifact_for(image: PushedImage, predicate_type: str, body: dict | None = None):
    subject = image.manifest.descriptor()
    data = statement(Predicate(predicate_type, body or {"k": "v"}), image.ref.name, subject.digest)
    return attestation_artifact(data, predicate_type, subject)


def two_platforms(client: RegistryClient, handle: RegistryHandle) -> tuple[Reference, list]:
    ref = handle.ref(unique_repo("attest"), "v1")
    arm = Platform(os="linux", architecture="arm64")
    images = [push_image(client, ref.repository_ref().with_tag("amd")),
              push_image(client, ref.repository_ref().with_tag("arm"), platform=arm)]
    push_index(client, ref, images)
    return ref, images


def skopeo_raw(image: str) -> dict:
    done = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", image],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_tag_schema_on_a_registry_without_referrers_api(registry: RegistryHandle) -> None:
    with RegistryClient(registry.options()) as client:
        ref, (amd, arm) = two_platforms(client, registry)
        where = Location("docker", reference=ref)
        assert attach(artifact_for(amd, PROVENANCE), amd.manifest.digest, where, client) == "tag schema"
        # read-modify-write: a second attestation of the same image joins the first
        assert attach(artifact_for(amd, SBOM), amd.manifest.digest, where, client) == "tag schema"
        assert attach(artifact_for(arm, PROVENANCE), arm.manifest.digest, where, client) == "tag schema"
        tags = client.list_tags(ref.repository_ref())
    assert referrers_tag(amd.manifest.digest) in tags
    # skopeo reads the tag-schema index; the image index still lists exactly the platforms
    tag_index = skopeo_raw(f"docker://{ref.repository_ref()}:{referrers_tag(amd.manifest.digest)}")
    assert [e["artifactType"] for e in tag_index["manifests"]] == ["application/vnd.in-toto+json"] * 2
    assert len(skopeo_raw(f"docker://{ref}")["manifests"]) == 2

    records = list_attestations(f"docker://{ref}", TransportContext(registry.options()))
    assert [(r.platform, r.predicate_type, r.stored, r.signed) for r in records] == [
        ("linux/amd64", PROVENANCE, "tag schema", False),
        ("linux/amd64", SBOM, "tag schema", False),
        ("linux/arm64", PROVENANCE, "tag schema", False),
    ]
    assert records[0].subject == amd.manifest.digest
    assert records[0].media_type == "application/vnd.in-toto+json"
    payload = read_attestation(f"docker://{ref}", records[0], TransportContext(registry.options()))
    assert len(payload) == records[0].size
    assert json.loads(payload)["subject"][0]["digest"] == {"sha256": amd.manifest.digest[7:]}


def test_referrers_api_where_the_registry_has_one(
    referrers_registry: RegistryHandle, registry: RegistryHandle
) -> None:
    with RegistryClient(referrers_registry.options()) as client:
        ref, (amd, arm) = two_platforms(client, referrers_registry)
        where = Location("docker", reference=ref)
        for image in (amd, arm):
            stored = attach(artifact_for(image, PROVENANCE), image.manifest.digest, where, client)
            assert stored == "referrers API"
        tags = client.list_tags(ref.repository_ref())
    assert not [t for t in tags if t.startswith("sha256-")]  # no tag schema next to the API
    records = list_attestations(f"docker://{ref}", TransportContext(referrers_registry.options()))
    assert [(r.platform, r.stored) for r in records] == [
        ("linux/amd64", "referrers API"), ("linux/arm64", "referrers API"),
    ]
    # the artifact manifest is in the real registry behind the proxy, subject and all
    direct = skopeo_raw(f"docker://{registry.host}/{ref.repository}@{records[1].artifact.digest}")
    assert direct["subject"]["digest"] == arm.manifest.digest
    assert direct["artifactType"] == "application/vnd.in-toto+json"
    assert direct["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"


def test_oci_layout_keeps_attestations_as_untagged_entries(tmp_path: Path) -> None:
    image = make_image()
    layout = image_layout(tmp_path / "oci", image, tag="app")
    subject = json.loads((layout / "index.json").read_text())["manifests"][0]
    data = statement(Predicate(PROVENANCE, {"k": "v"}), "app", subject["digest"])
    artifact = attestation_artifact(data, PROVENANCE, Descriptor.model_validate(subject))
    with RegistryClient() as client:
        stored = attach(artifact, subject["digest"], Location("oci", path=layout), client)
    assert stored == "layout"
    # skopeo still picks the image by name; the attestation has no name of its own
    assert skopeo_raw(f"oci:{layout}:app")["config"]["digest"] == image.config.digest
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    assert [e.get("artifactType") for e in entries] == [None, "application/vnd.in-toto+json"]
    records = list_attestations(f"oci:{layout}:app", TransportContext())
    assert [(r.subject, r.predicate_type, r.stored) for r in records] == [
        (subject["digest"], PROVENANCE, "layout"),
    ]
    assert read_attestation(f"oci:{layout}:app", records[0], TransportContext()) == data
