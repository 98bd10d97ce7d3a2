"""`multiarch copy` as a user runs it, against the real registry, read back with skopeo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builder.oci.platform import host_platform
from tests.fixtures.images import image_layout, index_layout, make_image
from tests.fixtures.registry import RegistryHandle, unique_repo

HOST_ARCH = host_platform().architecture
OTHER_ARCH = "arm64" if HOST_ARCH != "arm64" else "amd64"


def multiarch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "multiarch.cli", *args], capture_output=True, text=True, timeout=120
    )


def skopeo_raw(image: str) -> bytes:
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.stdout


def test_copy_index_to_registry_and_between_repos(tmp_path: Path, registry: RegistryHandle) -> None:
    images = [make_image(HOST_ARCH), make_image(OTHER_ARCH)]
    index = index_layout(tmp_path / "src", images)
    first, second = registry.image(unique_repo("e2e"), "v1"), registry.image(unique_repo("e2e"), "v1")
    digest_file = tmp_path / "digest"
    # No TLS flags: a registry on loopback is reached over plain HTTP by default.
    pushed = multiarch(
        "copy", "--all", "--digest-file", str(digest_file),
        f"oci:{tmp_path}/src", f"docker://{first}",
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert digest_file.read_text() == index.digest
    assert "6 blobs copied" in pushed.stdout
    assert skopeo_raw(first) == index.data

    mounted = multiarch("copy", "--all", first, second)
    assert mounted.returncode == 0, mounted.stderr
    assert "0 blobs copied" in mounted.stdout and "6 mounted" in mounted.stdout
    assert skopeo_raw(second) == index.data

    one = multiarch("copy", "--platform", f"linux/{OTHER_ARCH}", first, f"oci:{tmp_path}/one:x")
    assert one.returncode == 0, one.stderr
    entry = json.loads((tmp_path / "one/index.json").read_text())["manifests"][0]
    assert entry["digest"] == images[1].manifest.digest


def test_copy_to_docker_archive_and_back(tmp_path: Path) -> None:
    image = make_image(HOST_ARCH)
    image_layout(tmp_path / "src", image)
    archive = tmp_path / "app.tar"
    out = multiarch("copy", f"oci:{tmp_path}/src:latest", f"docker-archive:{archive}:app:v1")
    assert out.returncode == 0, out.stderr
    back = multiarch("copy", f"docker-archive:{archive}", f"oci:{tmp_path}/back:v1")
    assert back.returncode == 0, back.stderr
    config = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--config", f"oci:{tmp_path}/back:v1"], check=True, capture_output=True
        ).stdout
    )
    assert config["rootfs"]["diff_ids"] == list(image.diff_ids)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--all", "--platform", "linux/arm64", "a", "b"), 2, "exclude each other"),
        (("--platform", "linux/pentium", "oci:/nonexistent", "oci:/tmp/x"), 1, "unknown architecture 'pentium'"),
        (("Upper/Case", "oci:/tmp/x"), 1, "must be lowercase"),
        (("oci:/nonexistent-layout", "oci:/tmp/x"), 1, "not an OCI image layout"),
        (("--src-creds", "nopassword", "localhost:1/a", "oci:/tmp/x"), 2, "USERNAME:PASSWORD"),
    ],
)
def test_bad_input_is_one_clear_line(args: tuple[str, ...], code: int, message: str) -> None:
    out = multiarch("copy", *args)
    assert out.returncode == code
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2  # error line (+ hint)
    assert "Traceback" not in out.stderr


def test_missing_source_image_pushes_nothing(tmp_path: Path, registry: RegistryHandle) -> None:
    repo = unique_repo("e2e")
    out = multiarch("copy", "--insecure", registry.image(repo, "nope"), registry.image(repo, "dst"))
    assert out.returncode == 1
    assert "error:" in out.stderr and "Traceback" not in out.stderr
    tags = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "dst" not in tags.stdout
