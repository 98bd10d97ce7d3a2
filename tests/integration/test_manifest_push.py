"""`multiarch manifest push|inspect` against the real registries, checked with skopeo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.oci import mediatypes as mt
from builder.oci.models import Platform
from builder.registry import RegistryClient
from tests.fixtures.images import index_layout, make_image
from tests.fixtures.pushed import PushedImage, push_image, push_index
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.tls import ClientCert, skopeo_cert_dir

AMD64 = Platform(os="linux", architecture="amd64")
ARM64 = Platform(os="linux", architecture="arm64")


def multiarch(*argv: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    result = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"multiarch {' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def skopeo_raw(handle: RegistryHandle, image: str) -> dict:
    flags = [f"--tls-verify={'true' if handle.tls else 'false'}"]
    if handle.username:
        flags.append(f"--creds={handle.username}:{handle.password}")
    if handle.ca_file:
        # a directory holding only the CA (skopeo reads *.key there as client keys)
        cert_dir = handle.ca_file.parent.parent / "skopeo-certs"
        cert_dir.mkdir(exist_ok=True)
        shutil.copy(handle.ca_file, cert_dir / "ca.crt")
        flags.append(f"--cert-dir={cert_dir}")
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", *flags, f"docker://{image}"], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def tag_exists(client: RegistryClient, handle: RegistryHandle, repo: str, tag: str) -> bool:
    return client.head_manifest(handle.ref(repo, tag)) is not None


@pytest.fixture
def client(registry: RegistryHandle) -> Iterator[RegistryClient]:
    with RegistryClient(registry.options()) as c:
        yield c


@pytest.fixture
def two_images(client: RegistryClient, registry: RegistryHandle) -> tuple[str, PushedImage, PushedImage]:
    repo = unique_repo("mt")
    amd = push_image(client, registry.ref(repo, "amd64"), platform=AMD64)
    arm = push_image(client, registry.ref(repo, "arm64"), platform=ARM64)
    return repo, amd, arm


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_from_spec_pushes_index_in_spec_order_with_platforms_from_config(
    tmp_path: Path, registry: RegistryHandle, client: RegistryClient, two_images
) -> None:
    repo, amd, arm = two_images
    spec = write_spec(
        tmp_path,
        f"""
        image: {registry.image(repo, "1.0")}
        tags: [latest, "1"]
        manifests:
          - image: {registry.image(repo, "arm64")}
            platform: {{architecture: arm64, os: linux}}
          - image: {registry.image(repo, "amd64")}
        """,
    )
    digest_file = tmp_path / "digest"
    out = multiarch("manifest", "--insecure", "push", "from-spec", str(spec), "--digest-file", str(digest_file)).stdout
    index = skopeo_raw(registry, registry.image(repo, "1.0"))
    assert index["mediaType"] == mt.OCI_INDEX
    assert [e["digest"] for e in index["manifests"]] == [arm.manifest.digest, amd.manifest.digest]
    assert [e["platform"] for e in index["manifests"]] == [
        {"architecture": "arm64", "os": "linux"},
        {"architecture": "amd64", "os": "linux"},
    ]
    digest = digest_file.read_text()
    assert out.strip().startswith(f"Digest: {digest}")
    for tag in ("latest", "1"):
        assert client.head_manifest(registry.ref(repo, tag)).digest == digest


def test_a_tag_that_already_holds_the_index_is_not_pushed_again(
    tmp_path: Path, registry: RegistryHandle, two_images, fault_proxy
) -> None:
    """HEAD first, as crane and manifest-tool do: the second push of the same index PUTs
    nothing under the tag that has it, and still writes the new tag."""
    proxy, via = fault_proxy(registry)  # rate 0: records the requests only
    repo, _, _ = two_images
    entries = f"""
        manifests:
          - image: {via.image(repo, "amd64")}
          - image: {via.image(repo, "arm64")}
        """
    first = write_spec(tmp_path, f"image: {via.image(repo, 'same')}\n" + textwrap.dedent(entries))
    multiarch("manifest", "--insecure", "push", "from-spec", str(first))
    assert proxy.stats.count("PUT", "/v2/-/manifests/") == 1

    again = write_spec(tmp_path, f"image: {via.image(repo, 'same')}\ntags: [new]\n"
                       + textwrap.dedent(entries))  # fmt: skip
    multiarch("manifest", "--insecure", "push", "from-spec", str(again))
    assert proxy.stats.count("PUT", "/v2/-/manifests/") == 2  # only the new tag
    assert proxy.stats.count("HEAD", "/v2/-/manifests/") == 3  # one per tag, each push
    same, new = (skopeo_raw(registry, registry.image(repo, tag)) for tag in ("same", "new"))
    assert same == new and len(same["manifests"]) == 2


def test_source_index_contributes_its_entry_for_the_platform(
    tmp_path: Path, registry: RegistryHandle, client: RegistryClient
) -> None:
    repo = unique_repo("mt")
    children = [push_image(client, registry.ref(repo, f"c{i}"), platform=p) for i, p in enumerate((AMD64, ARM64))]
    push_index(client, registry.ref(repo, "multi"), children)
    target = registry.image(unique_repo("mt"), "v1")
    spec = write_spec(
        tmp_path,
        f"""
        image: {target}
        manifests:
          - image: {registry.image(repo, "multi")}
            platform: {{architecture: arm64, os: linux, variant: v8}}
        """,
    )
    multiarch("manifest", "push", "--insecure", "from-spec", str(spec))
    index = skopeo_raw(registry, target)
    assert [e["digest"] for e in index["manifests"]] == [children[1].manifest.digest]
    # the image was mounted into the target repository: its blobs and manifest are there
    assert skopeo_raw(registry, f"{target.rsplit(':', 1)[0]}@{children[1].manifest.digest}")["layers"]


def test_platform_contradicting_config_is_an_error_and_nothing_is_pushed(
    tmp_path: Path, registry: RegistryHandle, client: RegistryClient, two_images
) -> None:
    repo, _, _ = two_images
    spec = write_spec(
        tmp_path,
        f"""
        image: {registry.image(repo, "wrong")}
        manifests:
          - image: {registry.image(repo, "amd64")}
            platform: {{architecture: arm64, os: linux}}
        """,
    )
    result = multiarch("manifest", "push", "from-spec", "--insecure", str(spec), check=False)
    assert result.returncode == 1
    assert "manifests[0]: the spec says architecture 'arm64'" in result.stderr
    assert "linux/amd64 (from its image config)" in result.stderr
    assert not tag_exists(client, registry, repo, "wrong")


def test_missing_image_fails_everything_unless_ignore_missing(
    tmp_path: Path, registry: RegistryHandle, client: RegistryClient, two_images
) -> None:
    repo, amd, _ = two_images
    target_repo = unique_repo("mt")
    args = [
        "manifest", "push", "from-args", "--insecure",
        "--platforms", "linux/amd64,linux/s390x",
        "--template", registry.image(repo, "ARCH"),
        "--target", registry.image(target_repo, "v1"),
    ]  # fmt: skip
    failed = multiarch(*args, check=False)
    assert failed.returncode == 1
    assert "1 of 2 images missing, nothing pushed: linux/s390x" in failed.stderr
    assert "--ignore-missing" in failed.stderr
    assert client.list_tags(registry.ref(target_repo)) == []
    multiarch(*args, "--ignore-missing")
    index = skopeo_raw(registry, registry.image(target_repo, "v1"))
    assert [e["digest"] for e in index["manifests"]] == [amd.manifest.digest]


def test_from_args_with_docker_type_and_extra_tags(
    registry: RegistryHandle, client: RegistryClient, two_images
) -> None:
    repo, amd, arm = two_images
    multiarch(
        "manifest", "--insecure", "push", "from-args", "--type", "docker",
        "--platforms", "linux/amd64,linux/arm64",
        "--template", registry.image(repo, "ARCH"),
        "--target", registry.image(repo, "list"), "--tags", "a,b",
    )  # fmt: skip
    index = skopeo_raw(registry, registry.image(repo, "b"))
    assert index["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert [e["digest"] for e in index["manifests"]] == [amd.manifest.digest, arm.manifest.digest]
    assert "annotations" not in index


def test_sources_on_another_registry_are_copied_first(
    tmp_path: Path, registry: RegistryHandle, basic_registry: RegistryHandle
) -> None:
    repo = unique_repo("mt")
    with RegistryClient(basic_registry.options()) as other:
        arm = push_image(other, basic_registry.ref(repo, "arm64"), platform=ARM64)
    with RegistryClient(registry.options()) as client:
        amd = push_image(client, registry.ref(repo, "amd64"), platform=AMD64)
    # Credentials for the source registry come from a docker config file.
    import base64

    auth = base64.b64encode(f"{basic_registry.username}:{basic_registry.password}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {basic_registry.host: {"auth": auth}}}))
    target = registry.image(unique_repo("mt"), "v1")
    spec = write_spec(
        tmp_path,
        f"""
        image: {target}
        manifests:
          - image: {registry.image(repo, "amd64")}
          - image: {basic_registry.image(repo, "arm64")}
        """,
    )
    multiarch("manifest", "push", "from-spec", "--insecure", "--docker-cfg", str(tmp_path / "config.json"), str(spec))
    index = skopeo_raw(registry, target)
    assert [e["digest"] for e in index["manifests"]] == [amd.manifest.digest, arm.manifest.digest]
    copied = skopeo_raw(registry, f"{target.rsplit(':', 1)[0]}@{arm.manifest.digest}")
    assert copied["layers"][0]["digest"] == arm.layers[0].descriptor.digest


def test_wrong_password_is_a_clear_error(tmp_path: Path, basic_registry: RegistryHandle) -> None:
    repo = unique_repo("mt")
    with RegistryClient(basic_registry.options()) as other:
        push_image(other, basic_registry.ref(repo, "amd64"), platform=AMD64)
    result = multiarch(
        "manifest", "push", "from-args", "--insecure", "--username", basic_registry.username or "",
        "--password", "not-the-password", "--platforms", "linux/amd64",
        "--template", basic_registry.image(repo, "ARCH"), "--target", basic_registry.image(repo, "v1"),
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "not-the-password" not in result.stderr
    assert "401" in result.stderr or "unauthorized" in result.stderr.lower()


def test_annotations_from_ci_variables_and_flags(registry: RegistryHandle, two_images) -> None:
    repo, _, _ = two_images
    env = {
        "CI_PROJECT_URL": "https://gitlab.example.com/group/app",
        "CI_COMMIT_SHA": "0123456789abcdef",
        "CI_PIPELINE_CREATED_AT": "2026-01-02T03:04:05Z",
    }
    multiarch(
        "manifest", "push", "from-args", "--insecure", "--platforms", "linux/amd64,linux/arm64",
        "--template", registry.image(repo, "ARCH"), "--target", registry.image(repo, "annotated"),
        "--annotation", "org.opencontainers.image.revision=override", "--annotation", "com.example.team=infra",
        env=env,
    )  # fmt: skip
    index = skopeo_raw(registry, registry.image(repo, "annotated"))
    assert index["annotations"] == {
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        "org.opencontainers.image.source": "https://gitlab.example.com/group/app",
        "org.opencontainers.image.revision": "override",
        "com.example.team": "infra",
    }


def test_bad_spec_and_bad_reference_push_nothing(tmp_path: Path, registry: RegistryHandle) -> None:
    spec = write_spec(tmp_path, "image: x\nmanifests:\n  - image: y\n    platfrom: {os: linux}\n")
    result = multiarch("manifest", "push", "from-spec", str(spec), check=False)
    assert result.returncode == 1
    assert f"{spec}:4:5: manifests[0].platfrom: unknown field (did you mean 'platform'?)" in result.stderr
    result = multiarch(
        "manifest", "push", "from-args", "--platforms", "linux/amd64", "--template", "Bad Ref ARCH",
        "--target", registry.image(unique_repo("mt")), check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "invalid reference" in result.stderr


def test_index_source_without_platform_is_a_usage_error(
    tmp_path: Path, registry: RegistryHandle, client: RegistryClient
) -> None:
    repo = unique_repo("mt")
    children = [push_image(client, registry.ref(repo, f"c{i}"), platform=p) for i, p in enumerate((AMD64, ARM64))]
    push_index(client, registry.ref(repo, "multi"), children)
    spec = write_spec(tmp_path, f"image: {registry.image(repo, 'x')}\nmanifests:\n  - image: {registry.image(repo, 'multi')}\n")
    result = multiarch("manifest", "push", "from-spec", "--insecure", str(spec), check=False)
    assert result.returncode == 2
    assert "manifests[0]" in result.stderr and "multi-platform index" in result.stderr


def test_inspect_index_and_image(registry: RegistryHandle, two_images) -> None:
    repo, amd, arm = two_images
    target = registry.image(repo, "inspect")
    # No --insecure: a registry on loopback is reached over plain HTTP by default.
    multiarch(
        "manifest", "push", "from-args", "--platforms", "linux/amd64,linux/arm64",
        "--template", registry.image(repo, "ARCH"), "--target", target,
    )  # fmt: skip
    table = multiarch("manifest", "inspect", target).stdout
    assert "linux/amd64" in table and "linux/arm64" in table
    assert amd.manifest.digest in table and arm.manifest.digest in table
    as_json = json.loads(multiarch("manifest", "inspect", "--json", target).stdout)
    assert [e["platform"]["architecture"] for e in as_json["manifest"]["manifests"]] == ["amd64", "arm64"]
    raw = multiarch("manifest", "inspect", "--raw", target).stdout
    assert json.loads(raw) == skopeo_raw(registry, target)
    image = multiarch("manifest", "inspect", registry.image(repo, "arm64")).stdout
    assert "linux/arm64" in image and amd.manifest.digest not in image
    assert arm.layers[0].descriptor.digest in image
    image_json = json.loads(multiarch("manifest", "inspect", "--json", registry.image(repo, "arm64")).stdout)
    assert image_json["config"]["architecture"] == "arm64"


@pytest.mark.parametrize("variant", ["tls_registry", "token_registry"])
def test_push_on_tls_and_token_registries(request: pytest.FixtureRequest, tmp_path: Path, variant: str) -> None:
    handle: RegistryHandle = request.getfixturevalue(variant)
    repo = unique_repo("mt")
    with RegistryClient(handle.options()) as c:
        amd = push_image(c, handle.ref(repo, "amd64"), platform=AMD64)
        arm = push_image(c, handle.ref(repo, "arm64"), platform=ARM64)
    login = ["--username", handle.username or "", "--password", handle.password or ""] if handle.username else []
    env = {"SSL_CERT_FILE": str(handle.ca_file)} if handle.ca_file else {}
    multiarch(
        "manifest", *login, "push", "from-args",
        "--platforms", "linux/amd64,linux/arm64", "--template", handle.image(repo, "ARCH"),
        "--target", handle.image(repo, "multi"), env=env,
    )  # fmt: skip
    index = skopeo_raw(handle, handle.image(repo, "multi"))
    assert [e["digest"] for e in index["manifests"]] == [amd.manifest.digest, arm.manifest.digest]


def test_copy_push_and_inspect_on_a_mutual_tls_registry(
    tmp_path: Path, mtls_registry: tuple[RegistryHandle, ClientCert]
) -> None:
    """A registry that asks every client for a certificate: `copy`, `manifest push` and
    `manifest inspect` show the one --registry-client-cert names (on the subcommand or on
    `manifest`); without it, one error line says what to add."""
    handle, client = mtls_registry
    repo = unique_repo("mtls-index")
    trust = ("--registry-certificate", f"{handle.host}={handle.ca_file}")
    show = ("--registry-client-cert", f"{handle.host}={client.cert_file},{client.key_file}")
    index_layout(tmp_path / "src", [make_image("amd64"), make_image("arm64")])
    for arch in ("amd64", "arm64"):
        multiarch("copy", "--platform", f"linux/{arch}", f"oci:{tmp_path / 'src'}:latest",
                  f"docker://{handle.host}/{repo}:{arch}", *trust, *show)
    refused = multiarch("manifest", "push", "from-args", "--platforms", "linux/amd64,linux/arm64",
                        "--template", f"{handle.host}/{repo}:ARCH", "--target",
                        f"{handle.host}/{repo}:multi", *trust, check=False,
                        env={"MULTIARCH_RETRY_ATTEMPTS": "1"})
    assert refused.returncode == 1
    assert f"--registry-client-cert {handle.host}=" in refused.stderr
    multiarch("manifest", "push", "from-args", "--platforms", "linux/amd64,linux/arm64",
              "--template", f"{handle.host}/{repo}:ARCH", "--target", f"{handle.host}/{repo}:multi",
              *trust, *show)
    inspected = multiarch("manifest", *trust, *show, "inspect", "--json", f"{handle.host}/{repo}:multi")
    entries = json.loads(inspected.stdout)["manifest"]["manifests"]
    assert {entry["platform"]["architecture"] for entry in entries} == {"amd64", "arm64"}
    assert handle.ca_file is not None
    certs = skopeo_cert_dir(tmp_path / "skopeo-certs", handle.ca_file, client)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", str(certs),
                          f"docker://{handle.host}/{repo}:multi"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert len(json.loads(raw)["manifests"]) == 2
