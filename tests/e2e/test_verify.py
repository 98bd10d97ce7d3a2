"""`multiarch verify` and `multiarch manifest inspect --attestations` as a user runs them,
against the real registry (referrers tag schema) and an OCI layout: a 2-platform index whose
images carry signed provenance and SBOM statements; verification passes with the right key
and fails, one line per failure, with a wrong key, a tampered envelope, a statement moved to
another image, an unsigned attestation, a platform without any, and bytes that no longer match
their digest. skopeo still sees exactly two platforms; the private key is in no output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from builder.attest.artifact import attestation_artifact
from builder.attest.dsse import load_signing_key, sign
from builder.attest.statement import Predicate, statement
from builder.attest.store import attach
from builder.oci.models import Descriptor, Platform
from builder.reference import Reference
from builder.registry import RegistryClient
from builder.transports.names import Location
from tests.fixtures.images import image_layout, make_image
from tests.fixtures.pushed import PushedImage, push_image, push_index
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.signing_keys import KeyPair, write_key_pair
from tests.fixtures.tampering import tamper_first_attestation

PROVENANCE = "https://slsa.dev/provenance/v1"
SBOM = "https://spdx.dev/Document"


def multiarch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "multiarch.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    directory = tmp_path_factory.mktemp("keys")
    return write_key_pair(directory, "ed25519"), write_key_pair(directory, "p256")


def statement_of(
    image: PushedImage, predicate_type: str, about: PushedImage | None = None
) -> bytes:
    subject = (about or image).manifest.digest
    return statement(Predicate(predicate_type, {"made": "by tests"}), image.ref.name, subject)


def attach_to(
    client: RegistryClient, ref: Reference, image: PushedImage, predicate_type: str,
    signer: Callable[[bytes, str], bytes] | None, about: PushedImage | None = None,
) -> None:
    artifact = attestation_artifact(
        statement_of(image, predicate_type, about), predicate_type, image.manifest.descriptor(),
        signer,
    )
    attach(artifact, image.manifest.digest, Location("docker", reference=ref), client)


def signed_index(client: RegistryClient, registry: RegistryHandle, key: KeyPair,
                 *, arm_attestations: bool = True) -> tuple[Reference, list[PushedImage]]:
    """A 2-platform index whose images each carry a signed provenance and SBOM."""
    ref = registry.ref(unique_repo("verify"), "v1")
    repo = ref.repository_ref()
    arm = Platform(os="linux", architecture="arm64")
    images = [push_image(client, repo.with_tag("amd")),
              push_image(client, repo.with_tag("arm"), platform=arm)]
    push_index(client, ref, images)
    signer = partial(sign, key=load_signing_key(key.private))
    for image in images if arm_attestations else images[:1]:
        for predicate_type in (PROVENANCE, SBOM):
            attach_to(client, ref, image, predicate_type, signer)
    return ref, images


def skopeo_platforms(image: str) -> list[str]:
    done = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", image],
                          capture_output=True, text=True, check=True)
    return [f"{m['platform']['os']}/{m['platform']['architecture']}"
            for m in json.loads(done.stdout)["manifests"]]


def failure_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "verification failure" in lines[-1], lines
    return lines[:-1]


def test_signed_index_verifies_and_lists(registry: RegistryHandle,
                                         keys: tuple[KeyPair, KeyPair]) -> None:
    key, _ = keys
    with RegistryClient(registry.options()) as client:
        ref, images = signed_index(client, registry, key)
    image = f"docker://{ref}"
    done = multiarch("verify", image, "--key", str(key.public))
    assert done.returncode == 0, done.stderr
    assert "verified: 4 signed attestation(s) by key" in done.stdout
    assert done.stdout.count("verified") >= 5 and "linux/arm64" in done.stdout

    report = json.loads(multiarch("verify", image, "--key", str(key.public), "--json").stdout)
    assert report["verified"] is True and report["failures"] == []
    assert [p["platform"] for p in report["platforms"]] == ["linux/amd64", "linux/arm64"]
    for platform, pushed in zip(report["platforms"], images):
        assert platform["digest"] == pushed.manifest.digest
        assert [(a["predicateType"], a["status"], a["stored"], a["mediaType"])
                for a in platform["attestations"]] == [
            (t, "verified", "tag schema", "application/vnd.dsse.envelope.v1+json")
            for t in (PROVENANCE, SBOM)
        ]
        assert all(a["keyids"] == [report["key"]] for a in platform["attestations"])

    listed = multiarch("manifest", "inspect", "--attestations", "--json", image)
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert [[(a["predicateType"], a["signed"], a["keyids"] == [report["key"]], a["size"] > 0)
             for a in p["attestations"]] for p in body["platforms"]] == [
        [(PROVENANCE, True, True, True), (SBOM, True, True, True)]
    ] * 2
    table = multiarch("manifest", "inspect", "--attestations", image)
    assert table.returncode == 0, table.stderr
    assert table.stdout.count(report["key"][:12]) == 4 and "tag schema" in table.stdout
    assert skopeo_platforms(image) == ["linux/amd64", "linux/arm64"]
    for done in (done, listed, table):
        assert not any(line in done.stdout + done.stderr for line in key.secret_lines())


def test_wrong_key_fails_once_per_attestation(registry: RegistryHandle,
                                              keys: tuple[KeyPair, KeyPair]) -> None:
    key, wrong = keys
    with RegistryClient(registry.options()) as client:
        ref, _ = signed_index(client, registry, key)
    lines = failure_lines(multiarch("verify", f"docker://{ref}", "--key", str(wrong.public)))
    assert len(lines) == 4
    assert all(" not signed by key " in line for line in lines), lines
    assert [line.split()[0] for line in lines] == ["linux/amd64"] * 2 + ["linux/arm64"] * 2


def test_tampered_envelope_fails(registry: RegistryHandle, keys: tuple[KeyPair, KeyPair]) -> None:
    """The arm64 provenance's envelope changed after signing (its payload names other
    materials), pushed again as a new layer and artifact, and put in the referrers index
    in place of the signed one."""
    key, _ = keys
    with RegistryClient(registry.options()) as client:
        ref, (_, arm) = signed_index(client, registry, key)
        forged = tamper_first_attestation(
            client, ref.repository_ref(), arm.manifest.digest,
            lambda statement: statement["predicate"].update(made="by someone else"),
        )
    lines = failure_lines(multiarch("verify", f"docker://{ref}", "--key", str(key.public)))
    assert lines == [
        f"linux/arm64 {PROVENANCE} ({forged}): the signature by key "
        f"{load_signing_key(key.private).keyid} does not verify: "
        "the payload or the signature was changed"
    ]
    assert skopeo_platforms(f"docker://{ref}") == ["linux/amd64", "linux/arm64"]


def test_moved_unsigned_and_missing_attestations_fail(
    registry: RegistryHandle, keys: tuple[KeyPair, KeyPair]
) -> None:
    key, _ = keys
    with RegistryClient(registry.options()) as client:
        ref, (amd, arm) = signed_index(client, registry, key, arm_attestations=False)
        # amd64's correctly signed statement, attached to arm64 too: its subject is amd64.
        signer = partial(sign, key=load_signing_key(key.private))
        attach_to(client, ref, arm, PROVENANCE, signer, about=amd)
        attach_to(client, ref, arm, SBOM, None)  # unsigned
    image = f"docker://{ref}"
    lines = failure_lines(multiarch("verify", image, "--key", str(key.public)))
    assert len(lines) == 2
    assert lines[0].startswith(f"linux/arm64 {PROVENANCE} (sha256:")
    assert lines[0].endswith(
        f"the statement's subject is {amd.manifest.digest}, not {arm.manifest.digest}"
    )
    assert lines[1].endswith("unsigned (--allow-unsigned accepts unsigned attestations)")
    allowed = failure_lines(
        multiarch("verify", image, "--key", str(key.public), "--allow-unsigned")
    )
    assert len(allowed) == 1 and "the statement's subject is" in allowed[0]

    with RegistryClient(registry.options()) as client:
        bare, (_, bare_arm) = signed_index(client, registry, key, arm_attestations=False)
    lines = failure_lines(multiarch("verify", f"docker://{bare}", "--key", str(key.public)))
    assert lines == [f"linux/arm64 ({bare_arm.manifest.digest}): no attestation attached"]


def test_layout_with_changed_bytes_fails(tmp_path: Path, keys: tuple[KeyPair, KeyPair]) -> None:
    """An OCI layout: a single image with a signed attestation verifies; once the envelope's
    blob is rewritten in place, its bytes no longer match the digest the artifact records."""
    key, _ = keys
    image = make_image("amd64")
    layout = tmp_path / "layout"
    image_layout(layout, image)
    subject = Descriptor.model_validate(image.manifest.descriptor())
    data = statement(Predicate(PROVENANCE, {}), "app", subject.digest)
    artifact = attestation_artifact(
        data, PROVENANCE, subject, partial(sign, key=load_signing_key(key.private))
    )
    attach(artifact, subject.digest, Location("oci", path=layout), None)  # type: ignore[arg-type]
    ok = multiarch("verify", f"oci:{layout}:latest", "--key", str(key.public), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["platforms"][0]["platform"] is None
    blob = layout / "blobs/sha256" / artifact.manifest.manifest().layers[0].digest.split(":")[1]
    blob.write_bytes(blob.read_bytes().replace(b'"payload"', b'"payload" '))
    lines = failure_lines(multiarch("verify", f"oci:{layout}:latest", "--key", str(key.public)))
    assert lines == [
        f"the image {PROVENANCE} ({artifact.manifest.digest}): "
        "its bytes do not match the layer digest"
    ]


def test_unusable_keys_fail_in_one_line(tmp_path: Path, keys: tuple[KeyPair, KeyPair]) -> None:
    key, _ = keys
    done = multiarch("verify", "oci:/nonexistent", "--key", str(key.private))
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        f"error: {key.private}: a private key; verifying takes the public key"
    )
    assert not any(line in done.stderr for line in key.secret_lines())
    missing = multiarch("verify", "oci:/nonexistent", "--key", str(tmp_path / "none.pub"))
    assert missing.returncode == 1 and "cannot read the key" in missing.stderr
    assert "Traceback" not in missing.stderr + done.stderr
