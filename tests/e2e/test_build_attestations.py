"""`multiarch build` attestations: provenance on by default for registry pushes (each
platform attaches its own), the flag and spec forms, copies into further outputs, BuildKit's
layout on request; skopeo still lists exactly the platforms in the OCI-format index."""

from __future__ import annotations

import json
from pathlib import Path

from builder.attest import list_attestations, read_attestation
from builder.transports import TransportContext
from tests.e2e.test_build import make_project, multiarch, skopeo
from tests.fixtures.intoto import validated_slsa_provenance
from tests.fixtures.registry import RegistryHandle, unique_repo

COPY_ONLY = "FROM {base}\nCOPY hello.txt /hello.txt\n"
PROVENANCE = "https://slsa.dev/provenance/v1"


def index_of(image: str) -> dict:
    return json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}"))


def tags_of(repository: str) -> list[str]:
    return json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{repository}"))["Tags"]


def built_from_spec(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, setting: str
) -> tuple[str, Path]:
    """A 2-platform spec build into a new repository with one more spec line."""
    repository = f"{registry.host}/{unique_repo('attest')}"
    spec = make_project(tmp_path, busybox_image, COPY_ONLY, spec=f"""
        image: {repository}:v1
        context: app
        {setting}
        platforms: [linux/amd64, linux/arm64]
        """)
    multiarch("build", str(spec))
    return repository, spec


def test_spec_build_attaches_provenance_to_each_platform_by_default(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    repository = f"{registry.host}/{unique_repo('attest')}"
    spec = make_project(tmp_path, busybox_image, COPY_ONLY, spec=f"""
        image: {repository}:v1
        destinations: ["oci:{tmp_path}/out:v1"]
        context: app
        build_args: {{VERSION: "3"}}
        platforms: [linux/amd64, linux/arm64]
        """)
    multiarch("build", str(spec))
    index = index_of(f"{repository}:v1")
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]
    digests = [e["digest"] for e in index["manifests"]]
    assert sorted(tags_of(repository)) == sorted(["v1", *("sha256-" + d[7:] for d in digests)])
    ctx = TransportContext(registry.options())
    for image in (f"docker://{repository}:v1", f"oci:{tmp_path}/out:v1"):
        records = list_attestations(image, ctx)
        assert [(r.platform, r.subject, r.predicate_type) for r in records] == [
            ("linux/amd64", digests[0], PROVENANCE), ("linux/arm64", digests[1], PROVENANCE),
        ], image
        for record, arch in zip(records, ("amd64", "arm64")):
            document = validated_slsa_provenance(read_attestation(image, record, ctx))
            external = document["predicate"]["buildDefinition"]["externalParameters"]
            assert external["request"] == {"platform": f"linux/{arch}"}  # min: no build args
            assert external["configSource"]["path"] == "Dockerfile"  # as the context names it
    # the copied layout's index lists the platforms; its attestations are unnamed entries
    out = json.loads(skopeo("inspect", "--raw", f"oci:{tmp_path}/out:v1"))
    assert [e["platform"]["architecture"] for e in out["manifests"]] == ["amd64", "arm64"]


def test_flag_form_provenance_max_and_false(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    make_project(tmp_path, busybox_image, COPY_ONLY)
    repository = f"{registry.host}/{unique_repo('attest')}"
    multiarch("build", "--platform", "linux/amd64,linux/arm64", "-t", f"{repository}:v1",
              "--build-arg", "VERSION=3", "--provenance=mode=max", "app", cwd=tmp_path)
    records = list_attestations(f"docker://{repository}:v1", TransportContext(registry.options()))
    assert [r.platform for r in records] == ["linux/amd64", "linux/arm64"]
    document = validated_slsa_provenance(
        read_attestation(f"docker://{repository}:v1", records[1], TransportContext(registry.options()))
    )
    request = document["predicate"]["buildDefinition"]["externalParameters"]["request"]
    assert request["buildArgs"] == {"VERSION": "3"}

    unattested = f"{registry.host}/{unique_repo('attest')}"
    multiarch("build", "--platform", "linux/amd64,linux/arm64", "-t", f"{unattested}:v1",
              "--provenance=false", "app", cwd=tmp_path)
    assert tags_of(unattested) == ["v1"]


def test_spec_provenance_false_and_bad_values(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    repository, spec = built_from_spec(tmp_path, registry, busybox_image, "provenance: false")
    assert tags_of(repository) == ["v1"]
    spec.write_text(spec.read_text().replace("provenance: false", "provenance: mode=mid"))
    bad = multiarch("build", str(spec), check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "build.yaml:3:13: provenance: 'mode=mid': expected true, false" in bad.stderr
    spec.write_text(spec.read_text().replace("provenance: mode=mid", "provenance: true"))
    flag = multiarch("build", str(spec), "--provenance=sometimes", check=False)
    assert "--provenance 'sometimes': expected true, false, mode=min or mode=max" in flag.stderr


def test_buildkit_format_lists_attestation_manifests_in_the_index(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    repository, _ = built_from_spec(tmp_path, registry, busybox_image, "attest_format: buildkit")
    index = index_of(f"{repository}:v1")
    platforms = [e["platform"]["architecture"] for e in index["manifests"]]
    assert platforms == ["amd64", "arm64", "unknown", "unknown"]
    images = {e["digest"] for e in index["manifests"][:2]}
    assert {e["annotations"]["vnd.docker.reference.digest"] for e in index["manifests"][2:]} == images
    assert tags_of(repository) == ["v1"]  # no tag schema in this format
    records = list_attestations(f"docker://{repository}:v1", TransportContext(registry.options()))
    assert [(r.platform, r.stored) for r in records] == [
        ("linux/amd64", "buildkit"), ("linux/arm64", "buildkit"),
    ]


def test_local_layout_output_carries_provenance_when_asked(
    tmp_path: Path, busybox_layout: Path
) -> None:
    make_project(tmp_path, f"oci:{busybox_layout}:latest", COPY_ONLY)
    platforms = "linux/amd64,linux/arm64"
    multiarch("build", "--platform", platforms, "app", cwd=tmp_path)  # no registry: off
    out = tmp_path / "multiarch-out"
    assert list_attestations(f"oci:{out}:latest", TransportContext()) == []
    for form in ("oci", "buildkit"):
        multiarch("build", "--platform", platforms, "--provenance", "--attest-format", form,
                  "-o", f"oci:{tmp_path}/{form}:v1", "app", cwd=tmp_path)
        image = f"oci:{tmp_path}/{form}:v1"
        records = list_attestations(image, TransportContext())
        assert [(r.platform, r.predicate_type) for r in records] == [
            ("linux/amd64", PROVENANCE), ("linux/arm64", PROVENANCE),
        ], form
        validated_slsa_provenance(read_attestation(image, records[0], TransportContext()))


def test_spec_sbom_in_cyclonedx_beside_provenance_and_in_buildkits_layout(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    repository, spec = built_from_spec(tmp_path, registry, busybox_image,
                                       "sbom: true\n        sbom_format: cyclonedx")
    ctx = TransportContext(registry.options())
    records = list_attestations(f"docker://{repository}:v1", ctx)
    assert sorted((r.platform, r.predicate_type) for r in records) == [
        (platform, kind) for platform in ("linux/amd64", "linux/arm64")
        for kind in ("https://cyclonedx.org/bom", PROVENANCE)
    ]
    bom = next(json.loads(read_attestation(f"docker://{repository}:v1", r, ctx))["predicate"]
               for r in records if r.predicate_type == "https://cyclonedx.org/bom")
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert "/bin/busybox" in [c["name"] for c in bom["components"] if c["type"] == "file"]

    spec.write_text(spec.read_text().replace("sbom_format: cyclonedx", "attest_format: buildkit")
                    .replace("image: ", "provenance: false\nimage: ").replace(":v1", ":bk"))
    multiarch("build", str(spec))
    index = index_of(f"{repository}:bk")
    assert [e["platform"]["architecture"] for e in index["manifests"]] == [
        "amd64", "arm64", "unknown", "unknown"]
    records = list_attestations(f"docker://{repository}:bk", ctx)
    assert [(r.platform, r.stored, r.predicate_type) for r in records] == [
        ("linux/amd64", "buildkit", "https://spdx.dev/Document"),
        ("linux/arm64", "buildkit", "https://spdx.dev/Document"),
    ]


def test_sbom_flag_form_and_bad_values(tmp_path: Path, busybox_layout: Path) -> None:
    make_project(tmp_path, f"oci:{busybox_layout}:latest", COPY_ONLY)
    out = f"oci:{tmp_path}/out:v1"
    multiarch("build", "--platform", "linux/amd64", "--sbom", "-o", out, "app", cwd=tmp_path)
    records = list_attestations(out, TransportContext())
    assert [r.predicate_type for r in records] == ["https://spdx.dev/Document"]
    bad = multiarch("build", "--platform", "linux/amd64", "--sbom=generator=docker/scout",
                    "app", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[0] == "error: --sbom 'generator=docker/scout': expected true or false"
    spec = tmp_path / "build.yaml"
    spec.write_text("context: app\nplatforms: [linux/amd64]\nsbom_format: spdx-json\n")
    refused = multiarch("build", str(spec), cwd=tmp_path, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "build.yaml:3" in refused.stderr and "sbom_format" in refused.stderr
