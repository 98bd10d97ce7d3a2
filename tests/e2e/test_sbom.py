"""`multiarch executor --sbom`: an SBOM of the image's final filesystem attached to the pushed
image, checked with the formats' own tools (spdx-tools' parser and validator, CycloneDX's
strict JSON-schema validator) and against dpkg-query's own count of the Debian base's
packages; a Python distribution and a binary the Dockerfile adds are listed too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from builder.attest import list_attestations, read_attestation
from builder.transports import TransportContext
from tests.e2e.test_executor import executor, own_store, write_context  # noqa: F401
from tests.fixtures.debian import debian_image, debootstrapped_debian  # noqa: F401
from tests.fixtures.intoto import validated_statement
from tests.fixtures.registry import RegistryHandle, unique_repo

DOCKERFILE = """\
FROM {base}
COPY site/ /usr/lib/python3/dist-packages/
COPY tool /usr/local/bin/tool
RUN echo built > /built
"""


def sbom_of(
    tmp_path: Path, registry: RegistryHandle, base: str, *flags: str, repository: str = ""
) -> tuple[str, dict[str, Any]]:
    """Build the Dockerfile above with `flags` (into a new repository unless named); the
    pushed image's digest and its one attestation (an in-toto statement, validated)."""
    context = write_context(tmp_path, DOCKERFILE.format(base=base))
    (context / "site/demo_pkg-1.2.dist-info").mkdir(parents=True)
    (context / "site/demo_pkg-1.2.dist-info/METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.2\nLicense: MIT\n")
    shutil.copy("/usr/bin/true", context / "tool")  # an ELF no package of the image owns
    ref = f"{registry.host}/{repository or unique_repo('sbom')}:v1"
    executor("--context", str(context), "--destination", ref, "--insecure-registry",
             registry.host, "--digest-file", str(tmp_path / "digest"), *flags)
    digest = (tmp_path / "digest").read_text()
    ctx = TransportContext(registry.options())
    records = list_attestations(f"docker://{ref}", ctx)
    assert [r.subject for r in records] == [digest]
    statement = validated_statement(read_attestation(f"docker://{ref}", records[0], ctx))
    assert statement["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
    return digest, statement


def dpkg_package_count(root: Path) -> int:
    listed = subprocess.run(["dpkg-query", "-W", f"--admindir={root}/var/lib/dpkg"],
                            capture_output=True, text=True, check=True).stdout
    return len(listed.splitlines())


def test_spdx_sbom_of_a_debian_image(
    tmp_path: Path, registry: RegistryHandle, debian_image: str, own_store: Path,  # noqa: F811
) -> None:
    _, statement = sbom_of(tmp_path, registry, debian_image, "--sbom")
    assert statement["predicateType"] == "https://spdx.dev/Document"
    path = tmp_path / "sbom.spdx.json"
    path.write_text(json.dumps(statement["predicate"]))
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    purls = [ref.locator for package in document.packages
             for ref in package.external_references if ref.reference_type == "purl"]
    debs = [p for p in purls if p.startswith("pkg:deb/debian/")]
    assert len(debs) == dpkg_package_count(debootstrapped_debian())
    assert any(p.startswith("pkg:deb/debian/libc6@") and "arch=amd64" in p for p in debs)
    assert "pkg:pypi/demo-pkg@1.2" in purls
    assert [f.name for f in document.files] == ["./usr/local/bin/tool"]
    image = next(p for p in document.packages if p.spdx_id == "SPDXRef-image")
    assert image.name == statement["subject"][0]["name"]  # the image's repository


def test_cyclonedx_sbom_is_schema_valid(
    tmp_path: Path, registry: RegistryHandle, debian_image: str, own_store: Path,  # noqa: F811
) -> None:
    _, statement = sbom_of(tmp_path, registry, debian_image, "--sbom", "--sbom-format", "cyclonedx")
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    bom = statement["predicate"]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None
    purls = [c.get("purl", "") for c in bom["components"]]
    assert len([p for p in purls if p.startswith("pkg:deb/")]) == dpkg_package_count(
        debootstrapped_debian())
    assert "pkg:pypi/demo-pkg@1.2" in purls
    files = [c for c in bom["components"] if c["type"] == "file"]
    assert [f["name"] for f in files] == ["/usr/local/bin/tool"]


def test_sbom_is_off_by_default_and_reproducible_with_an_epoch(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, own_store: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = write_context(tmp_path, f"FROM {busybox_image}\nRUN echo hi > /hi\n")
    ref = f"{registry.host}/{unique_repo('sbom')}:plain"
    executor("--context", str(context), "--destination", ref, "--insecure-registry", registry.host)
    assert list_attestations(f"docker://{ref}", TransportContext(registry.options())) == []
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    repository = unique_repo("sbom")
    first = sbom_of(tmp_path / "a", registry, busybox_image, "--sbom", repository=repository)
    second = sbom_of(tmp_path / "b", registry, busybox_image, "--sbom", repository=repository)
    assert first[0] == second[0]  # the same image: its one attestation, stored once
    first, second = first[1]["predicate"], second[1]["predicate"]
    assert first == second
    assert first["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
