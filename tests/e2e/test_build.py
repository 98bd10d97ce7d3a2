"""`multiarch build` as a user runs it: real RUN steps on amd64 and arm64 (QEMU), the real
registry, and the results checked with skopeo."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.tls import ClientCert, skopeo_cert_dir

DOCKERFILE = """
FROM {base}
ARG TARGETARCH
RUN uname -m > /arch && echo "$TARGETARCH" > /targetarch
COPY hello.txt /hello.txt
"""


def multiarch(*argv: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    result = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"multiarch {' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def skopeo(*argv: str) -> str:
    return subprocess.run(["skopeo", *argv], check=True, capture_output=True, text=True).stdout


def make_project(tmp_path: Path, base: str, dockerfile: str = DOCKERFILE, spec: str = "") -> Path:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile.format(base=base))
    (context / "hello.txt").write_text("hello\n")
    path = tmp_path / "build.yaml"
    path.write_text(textwrap.dedent(spec).lstrip())
    return path


def file_in_image(layout: Path, manifest_digest: str, name: str) -> str:
    """Read a file from the topmost layer that has it, in an OCI layout (stdlib only)."""
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / manifest_digest.split(":")[1]).read_bytes())
    for desc in reversed(manifest["layers"]):
        layer = (blobs / desc["digest"].split(":")[1]).read_bytes()
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
            for member in tar.getmembers():
                if member.name.removeprefix("./") == name and member.isfile():
                    return tar.extractfile(member).read().decode().strip()  # type: ignore[union-attr]
    raise AssertionError(f"{name} not in {manifest_digest}")


def test_spec_build_of_two_platforms_to_the_registry(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    image = f"{registry.host}/{unique_repo('build')}"
    spec = make_project(
        tmp_path,
        busybox_image,
        spec=f"""
        image: {image}
        tags: [v1, "${{CI_COMMIT_TAG}}", latest]
        destinations: ["docker-archive:{tmp_path}/out/app.tar"]
        context: app
        annotations: {{com.example.team: infra}}
        platforms:
          - linux/amd64
          - platform: linux/arm64
            runner: local
        """,
    )
    # No --insecure-registry: the registry is on loopback, reached over plain HTTP by default.
    done = multiarch(
        "build", str(spec),
        "--metadata-file", str(tmp_path / "meta.json"), "--dotenv", str(tmp_path / "build.env"),
    )  # fmt: skip
    # Each platform pushes by digest as it finishes, its base layer mounted, never re-uploaded.
    assert done.stderr.count("1 mounted from base images") == 2, done.stderr
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}:v1"))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]
    assert index["annotations"]["com.example.team"] == "infra"
    latest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}:latest"))
    assert latest == index
    config = json.loads(
        skopeo("inspect", "--config", "--override-arch", "arm64", "--tls-verify=false", f"docker://{image}:v1")
    )
    assert config["architecture"] == "arm64"
    # The binaries really ran on their architecture (arm64 under QEMU).
    layout = tmp_path / "pulled"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{image}:v1", f"oci:{layout}:v1")
    for entry, machine, arch in zip(index["manifests"], ("x86_64", "aarch64"), ("amd64", "arm64")):
        assert file_in_image(layout, entry["digest"], "arch") == machine
        assert file_in_image(layout, entry["digest"], "targetarch") == arch
    for arch in ("amd64", "arm64"):
        info = json.loads(skopeo("inspect", f"docker-archive:{tmp_path}/out/app-linux-{arch}.tar"))
        assert info["Architecture"] == arch
        with tarfile.open(tmp_path / "out" / f"app-linux-{arch}.tar") as tar:
            archive_manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert archive_manifest[0]["RepoTags"] == [f"{image}:v1"]
    meta = json.loads((tmp_path / "meta.json").read_text())
    digest = skopeo("inspect", "--format", "{{.Digest}}", "--tls-verify=false", f"docker://{image}:v1").strip()
    assert meta["containerimage.digest"] == digest
    assert [p["status"] for p in meta["platforms"]] == ["ok", "ok"]
    assert f"IMAGE_DIGEST={digest}" in (tmp_path / "build.env").read_text()


FAILS_ON_ARM = """
FROM {base}
RUN test "$(uname -m)" = x86_64
"""


def test_a_failing_platform_publishes_nothing_unless_ignore_missing(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    repo = unique_repo("build")
    image = f"{registry.host}/{repo}:v1"
    spec = make_project(
        tmp_path, busybox_image, FAILS_ON_ARM,
        spec=f"image: {image}\ncontext: app\nplatforms: [linux/amd64, linux/arm64]\n",
    )  # fmt: skip
    failed = multiarch("build", str(spec), "--insecure-registry", registry.host, check=False)
    assert failed.returncode == 1
    assert "1 of 2 platforms failed, nothing published: linux/arm64" in failed.stderr
    tags = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo}"], capture_output=True, text=True
    )
    # No tag at all: the platform that built pushed its image and its provenance by digest;
    # the referrers tag (sha256-<image digest>, this registry has no referrers API) is
    # written only when the index is published.
    listed = (json.loads(tags.stdout)["Tags"] or []) if tags.returncode == 0 else []
    assert listed == []

    partial = multiarch("build", str(spec), "--insecure-registry", registry.host, "--ignore-missing", check=False)
    assert partial.returncode == 1  # a failure is still a failure
    assert "linux/arm64" in partial.stderr
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}"))
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64"]
    amd64 = index["manifests"][0]["digest"].removeprefix("sha256:")
    listed = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/{repo}"))["Tags"]
    assert sorted(listed) == sorted(["v1", f"sha256-{amd64}"])  # the published one's provenance


def test_flag_form_defaults_to_an_oci_layout(
    tmp_path: Path, busybox_layout: Path
) -> None:
    make_project(tmp_path, f"oci:{busybox_layout}:latest")
    multiarch(
        "build", "--platform", "linux/amd64,linux/arm64", "--build-arg", "UNUSED=1", "app",
        cwd=tmp_path,
    )  # fmt: skip
    index = json.loads(skopeo("inspect", "--raw", f"oci:{tmp_path}/multiarch-out:latest"))
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]
    for entry, machine in zip(index["manifests"], ("x86_64", "aarch64")):
        assert file_in_image(tmp_path / "multiarch-out", entry["digest"], "arch") == machine


@pytest.mark.parametrize(
    "args, message",
    [
        (["--platform", "linux/bogus", "app"], "invalid platform 'linux/bogus'"),
        (["app"], "the flag form needs --platform"),
        (["--platform", "linux/amd64", "nope"], "context directory 'nope' does not exist"),
    ],
)
def test_bad_flags_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    make_project(tmp_path, "scratch")
    result = multiarch("build", *args, cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_spec_names_file_and_line(tmp_path: Path) -> None:
    spec = make_project(
        tmp_path, "scratch", spec="context: app\nplatforms:\n  - platform: linux/arm64\n    runner: sshh://me@host\n"
    )
    result = multiarch("build", str(spec), check=False)
    assert result.returncode == 1
    assert f"error: {spec}:4:13: platforms[0].runner: unknown scheme 'sshh'" in result.stderr


def test_worked_example_app_builds(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    spec = Path(__file__).resolve().parents[2] / "manifests" / "app.yaml"
    env_base = {"BASE_IMAGE": busybox_image}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")} | env_base
    done = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "build", str(spec), "--insecure-registry", registry.host],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    index = json.loads(skopeo("inspect", "--raw", f"oci:{tmp_path}/multiarch-out:latest"))
    greetings = [file_in_image(tmp_path / "multiarch-out", e["digest"], "greeting") for e in index["manifests"]]
    assert greetings == ["hello from amd64 (x86_64)", "hello from arm64 from arm64 (aarch64)"]


def test_build_to_a_mutual_tls_registry(tmp_path: Path, busybox_layout: Path,
                                        mtls_registry: tuple[RegistryHandle, ClientCert]) -> None:
    """`--registry-client-cert` reaches every platform's executor and the index push."""
    handle, client = mtls_registry
    make_project(tmp_path, f"oci:{busybox_layout}:latest")
    image = f"{handle.host}/{unique_repo('mtls')}:v1"
    multiarch("build", "--platform", "linux/amd64,linux/arm64", "-t", image,
              "--registry-certificate", f"{handle.host}={handle.ca_file}",
              "--registry-client-cert", f"{handle.host}={client.cert_file},{client.key_file}",
              "app", cwd=tmp_path)  # fmt: skip
    assert handle.ca_file is not None
    certs = skopeo_cert_dir(tmp_path / "skopeo-certs", handle.ca_file, client)
    index = json.loads(skopeo("inspect", "--raw", "--cert-dir", str(certs), f"docker://{image}"))
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]
