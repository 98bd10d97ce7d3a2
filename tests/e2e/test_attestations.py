"""`multiarch executor --provenance`: SLSA provenance attached beside the pushed image and in
the OCI layout, secrets left out, BuildKit's layout on request, off by default (kaniko
parity), and a refused attestation push fails the build."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.attest import list_attestations, read_attestation
from builder.reference import parse_reference
from builder.registry import RegistryClient
from builder.transports import TransportContext
from tests.e2e.test_executor import executor, own_store, write_context  # noqa: F401
from tests.fixtures.intoto import validated_slsa_provenance
from tests.fixtures.referrers_proxy import ReferrersProxy
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.signing_keys import write_key_pair

SECRET = "pr0venance-must-not-see-this"
DOCKERFILE = """\
FROM {base}
ARG VERSION
ARG DEPLOY_TOKEN
RUN --mount=type=secret,id=api echo "$VERSION" > /version
"""


def skopeo_raw(image: str) -> dict:
    done = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", image],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def pushed(tmp_path: Path, host: str, base: str, *flags: str, check: bool = True):
    """A one-RUN image built by the executor and pushed to a new repository on `host`."""
    context = write_context(tmp_path, f"FROM {base}\nRUN echo hi > /hi\n")
    ref = f"{host}/{unique_repo('prov')}:v1"
    done = executor("--context", str(context), "--destination", ref, "--insecure-registry", host,
                    *flags, check=check)
    return ref, done


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-secret"
    path.write_text(SECRET)
    return path


def test_provenance_max_in_registry_and_layout(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, secret_file: Path,
    own_store: Path,  # noqa: F811
) -> None:
    context = write_context(tmp_path, DOCKERFILE.format(base=busybox_image))
    ref = f"{registry.host}/{unique_repo('prov')}:v1"
    layout = tmp_path / "layout"
    env = {**os.environ, "CI_COMMIT_SHA": "c" * 40,
           "CI_PROJECT_URL": "https://gitlab.example/g/app"}
    executor("--context", str(context), "--destination", ref, "--insecure-registry",
             registry.host, "--oci-layout-path", str(layout), "--provenance=mode=max",
             "--build-arg", "VERSION=7", "--build-arg", f"DEPLOY_TOKEN={SECRET}",
             "--secret", f"id=api,src={secret_file}", "--digest-file", str(tmp_path / "digest"),
             env=env)
    digest = (tmp_path / "digest").read_text()
    ctx = TransportContext(registry.options())
    for image in (f"docker://{ref}", f"oci:{layout}:v1"):
        records = list_attestations(image, ctx)
        assert [(r.subject, r.predicate_type) for r in records] == [
            (digest, "https://slsa.dev/provenance/v1"),
        ], image
        data = read_attestation(image, records[0], ctx)
        assert SECRET.encode() not in data
        document = validated_slsa_provenance(data)
        assert document["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
        definition = document["predicate"]["buildDefinition"]
        assert definition["externalParameters"]["request"]["buildArgs"] == {"VERSION": "7"}
        uris = [d.get("uri", "") for d in definition["resolvedDependencies"]]
        assert f"git+https://gitlab.example/g/app@{'c' * 40}" in uris
        assert any(u.startswith("pkg:docker/") for u in uris)
    assert records[0].stored == "layout"
    # the pushed tag is still the image itself; the layout's name still picks the image
    assert skopeo_raw(f"docker://{ref}")["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert skopeo_raw(f"oci:{layout}:v1")["config"]["mediaType"].endswith("config.v1+json")


def test_executor_attaches_nothing_by_default(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str,
    own_store: Path,  # noqa: F811
) -> None:
    ref, _ = pushed(tmp_path, registry.host, busybox_image)
    with RegistryClient(registry.options()) as client:
        assert client.list_tags(parse_reference(ref).repository_ref()) == ["v1"]


def test_buildkit_format_lists_an_attestation_manifest_in_the_index(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str,
    own_store: Path,  # noqa: F811
) -> None:
    ref, _ = pushed(tmp_path, registry.host, busybox_image, "--provenance", "--attest-format",
                    "buildkit", "--digest-file", str(tmp_path / "digest"))
    digest = (tmp_path / "digest").read_text()
    index = skopeo_raw(f"docker://{ref}")
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "unknown"]
    assert index["manifests"][1]["annotations"] == {
        "vnd.docker.reference.digest": digest,
        "vnd.docker.reference.type": "attestation-manifest",
    }
    records = list_attestations(f"docker://{ref}", TransportContext(registry.options()))
    assert [(r.platform, r.subject, r.stored) for r in records] == [
        ("linux/amd64", digest, "buildkit"),
    ]
    validated_slsa_provenance(read_attestation(f"docker://{ref}", records[0],
                                               TransportContext(registry.options())))


@pytest.fixture
def refusing_registry(registry: RegistryHandle) -> Iterator[RegistryHandle]:
    proxy = ReferrersProxy(registry.host, refuse_subjects=True).start()
    try:
        yield RegistryHandle(host=proxy.host, url=f"http://{proxy.host}")
    finally:
        proxy.stop()


def test_a_refused_attestation_push_fails_the_build(
    tmp_path: Path, refusing_registry: RegistryHandle, busybox_image: str,
    own_store: Path,  # noqa: F811
) -> None:
    _, done = pushed(tmp_path, refusing_registry.host, busybox_image, "--provenance", check=False)
    assert done.returncode == 1
    assert "subject refused" in done.stderr or "MANIFEST_INVALID" in done.stderr
    assert "Traceback" not in done.stderr


def test_buildkit_format_refuses_a_signing_key(tmp_path: Path) -> None:
    keys = write_key_pair(tmp_path / "keys")
    done = executor("--context", str(tmp_path), "--no-push", "--provenance", "--attest-format",
                    "buildkit", "--sign-key", str(keys.private), check=False)
    assert done.returncode == 2  # a usage error
    assert "--attest-format buildkit stores unsigned statements" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_provenance_value_is_one_line(tmp_path: Path) -> None:
    done = executor("--context", str(tmp_path), "--no-push", "--provenance=mode=mid", check=False)
    assert done.returncode != 0
    assert "--provenance 'mode=mid': expected true, false, mode=min or mode=max" in done.stderr
    assert "Traceback" not in done.stderr
