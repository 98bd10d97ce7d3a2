"""The public Python API as a script calls it: real RUN steps (arm64 under QEMU), the real
registry, results checked with skopeo and umoci; errors are the CLI's one-line messages."""

from __future__ import annotations

import hashlib
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

import builder
import multiarch
from builder.errors import BuildError, DockerfileError, SpecError, UsageError
from builder.events import (
    BlobPushed,
    Event,
    PlatformFinished,
    PlatformStarted,
    StepFinished,
    StepStarted,
)
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.tls import ClientCert


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))


def skopeo(*argv: str) -> str:
    return subprocess.run(["skopeo", *argv], check=True, capture_output=True, text=True).stdout


def unpacked(layout: Path, tag: str, dest: Path) -> Path:
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(dest)], check=True,
                   capture_output=True)  # fmt: skip
    return dest / "rootfs"


def context_with(tmp_path: Path, dockerfile: str) -> Path:
    context = tmp_path / "context"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(textwrap.dedent(dockerfile).lstrip())
    return context


def test_build_pushes_writes_a_layout_and_reports(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    context = context_with(tmp_path, f"""
        FROM {busybox_image}
        ARG GREETING
        RUN echo "$GREETING" > /greeting && uname -m > /arch
        CMD ["cat", "/greeting"]
    """)
    ref = f"{registry.host}/{unique_repo('api')}:v1"
    seen: list[Event] = []
    result = builder.build(
        context,
        platform="linux/arm64",
        destinations=[ref, f"oci:{tmp_path / 'layout'}"],
        build_args={"GREETING": "hello"},
        labels={"org.example.team": "ci"},
        insecure_registries=[registry.host],
        progress=seen.append,
    )
    pushed = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert result.digest == pushed["Digest"]
    assert result.pushed == (f"{ref}@{result.digest}",)
    assert f"oci:{tmp_path / 'layout'}:v1" in result.destinations
    assert result.config.architecture == "arm64" and result.platform.architecture == "arm64"
    assert result.config.config is not None and result.config.config.cmd == ["cat", "/greeting"]
    assert result.config.config.labels == {"org.example.team": "ci"}
    assert [layer.digest for layer in result.layers] == [d["digest"] for d in json.loads(
        skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}"))["layers"]]  # fmt: skip
    assert [s.instruction.split()[0] for s in result.steps] == ["FROM", "RUN"]
    assert all(s.ran and s.duration_s >= 0 for s in result.steps)
    rootfs = unpacked(tmp_path / "layout", "v1", tmp_path / "bundle")
    assert (rootfs / "arch").read_text() == "aarch64\n"
    assert (rootfs / "greeting").read_text() == "hello\n"
    names = [e.name for e in seen if isinstance(e, StepStarted)]
    run = 'RUN echo "$GREETING" > /greeting && uname -m > /arch'
    assert any(name.endswith(run) for name in names)
    assert sum(isinstance(e, StepFinished) for e in seen) == len(names)
    assert any(isinstance(e, BlobPushed) and not e.mounted for e in seen)


def test_build_keeps_the_executor_defaults_and_options(
    tmp_path: Path, busybox_layout: Path
) -> None:
    context = context_with(tmp_path, f"FROM oci:{busybox_layout}:latest\nRUN echo hi > /hi\n")
    first = builder.build(context, destinations=[f"oci:{tmp_path / 'one'}"], cache=True)
    base = builder.ExecutorOptions(cache=True, labels={"from": "options"})
    again = builder.build(context, destinations=[f"oci:{tmp_path / 'two'}"], options=base)
    assert first.steps[-1].ran and again.steps[-1].cached  # the cache= keyword and options=
    assert again.config.config is not None and again.config.config.labels == {"from": "options"}
    third = builder.build(context, destinations=[f"oci:{tmp_path / 'three'}"], options=base,
                          reproducible=True)  # fmt: skip
    assert third.config.created == "1970-01-01T00:00:00Z"  # a keyword on top of options=
    assert third.config.config is not None and third.config.config.labels == {"from": "options"}
    assert first.config.created != "1970-01-01T00:00:00Z"  # the default: not reproducible


def test_build_secrets_reach_the_step_never_an_event(
    tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "api-s3cr3t-" + "z" * 16
    monkeypatch.setenv("API_TEST_TOKEN", secret)
    context = context_with(tmp_path, f"""
        FROM oci:{busybox_layout}:latest
        RUN --mount=type=secret,id=token cat /run/secrets/token && wc -c < /run/secrets/token > /n
    """)
    seen: list[Event] = []
    result = builder.build(context, destinations=[f"oci:{tmp_path / 'out'}"],
                           secrets=[builder.SecretSource(id="token", env="API_TEST_TOKEN")],
                           progress=seen.append)  # fmt: skip
    assert secret not in repr(seen) and "***" in repr(seen)  # the RUN printed it: redacted
    assert secret not in result.model_dump_json()
    rootfs = unpacked(tmp_path / "out", "latest", tmp_path / "bundle")
    assert (rootfs / "n").read_text().strip() == str(len(secret))


@pytest.mark.parametrize(
    "dockerfile,kwargs,error,message",
    [
        ("{base}\n", {}, UsageError, "no --destination given"),
        ("{base}\nRUN\n", {"destinations": ["oci:{out}"]}, DockerfileError, "Dockerfile:2:"),
        ("{base}\nRUN exit 3\n", {"destinations": ["oci:{out}"]}, BuildError,
         "Dockerfile:2: [stage-0] RUN: "),
        ("{base}\n", {"destinations": ["oci:{out}"], "compression": "lz4"}, UsageError,
         "build option compression: Input should be 'gzip' or 'zstd'"),
        ("{base}\n", {"destinations": ["oci:{out}"], "platform": "linux/nope/x/y"}, UsageError,
         "--custom-platform: "),
        ("{base}\n", {"destinations": ["oci:{out}:mine"]}, UsageError,
         "the image inside is named after the first registry destination"),
    ],
)  # fmt: skip
def test_build_errors_are_the_cli_lines(
    tmp_path: Path, busybox_layout: Path, dockerfile: str, kwargs: dict[str, Any],
    error: type[Exception], message: str,
) -> None:  # fmt: skip
    context = context_with(tmp_path, dockerfile.format(base=f"FROM oci:{busybox_layout}:latest"))
    options: dict[str, Any] = {
        k: [d.format(out=tmp_path / "out") for d in v] if k == "destinations" else v
        for k, v in kwargs.items()
    }
    with pytest.raises(error) as caught:
        builder.build(context, **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_push_copy_inspect(tmp_path: Path, registry: RegistryHandle, busybox_layout: Path) -> None:
    ref = f"{registry.host}/{unique_repo('api')}:1.0"
    insecure = [registry.host]
    pushed = builder.push(f"oci:{busybox_layout}:latest", ref, insecure_registries=insecure)
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}")
    assert pushed == f"{ref}@sha256:{hashlib.sha256(raw.encode()).hexdigest()}"

    index = builder.inspect(ref, insecure_registries=insecure)
    assert index.is_index and [p.architecture for p in index.platforms] == ["amd64", "arm64"]
    arm64 = builder.inspect(ref, platform="linux/arm64", insecure_registries=insecure)
    assert not arm64.is_index and arm64.config is not None
    assert arm64.config.architecture == "arm64" and len(arm64.layers) == 1
    assert arm64.digest == index.manifests[1].digest

    copied = builder.copy(ref, f"oci:{tmp_path / 'copy'}:arm", platform="linux/arm64",
                          insecure_registries=insecure)  # fmt: skip
    assert copied.descriptor.digest == arm64.digest
    assert (unpacked(tmp_path / "copy", "arm", tmp_path / "bundle") / "bin" / "busybox").is_file()

    with pytest.raises(UsageError, match="is not a registry reference"):
        builder.push(f"oci:{busybox_layout}:latest", f"oci:{tmp_path / 'x'}")


def test_multiarch_build_publishes_the_index(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    context = context_with(tmp_path, f"FROM {busybox_image}\nRUN uname -m > /arch\n")
    repo = f"{registry.host}/{unique_repo('api')}"
    spec = multiarch.load_spec(f"""
image: {repo}
tags: [v1]
context: {context}
platforms: [linux/amd64, linux/arm64]
""")
    seen: list[Event] = []
    result = multiarch.build(spec, insecure_registries=[registry.host], progress=seen.append)
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{repo}:v1")
    assert result.digest == f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}"
    assert set(result.pushed) == {f"{repo}:latest", f"{repo}:v1"}
    entries = {m["platform"]["architecture"]: m["digest"] for m in json.loads(raw)["manifests"]}
    assert {p.platform: p.digest for p in result.platforms} == {
        "linux/amd64": entries["amd64"], "linux/arm64": entries["arm64"],
    }  # fmt: skip
    assert not result.failed
    assert all(p.steps[-1].instruction.startswith("RUN") for p in result.platforms)
    both = {"linux/amd64", "linux/arm64"}
    assert {e.platform for e in seen if isinstance(e, PlatformStarted)} == both
    assert {e.digest for e in seen if isinstance(e, PlatformFinished)} == set(entries.values())
    assert {e.platform for e in seen if isinstance(e, StepStarted)} == both

    info = multiarch.manifest_inspect(f"{repo}:v1", insecure=True)
    assert info.digest == result.digest and len(info.manifests) == 2


def test_multiarch_build_to_a_mutual_tls_registry(
    tmp_path: Path, busybox_layout: Path, mtls_registry: tuple[RegistryHandle, ClientCert]
) -> None:
    handle, client = mtls_registry
    context = context_with(tmp_path, f"FROM oci:{busybox_layout}:latest\nRUN true\n")
    repo = f"{handle.host}/{unique_repo('api-mtls')}"
    spec = multiarch.load_spec(f"image: {repo}\ncontext: {context}\nplatforms: [linux/amd64]\n")
    assert handle.ca_file is not None
    result = multiarch.build(spec, registry_certificates={handle.host: handle.ca_file},
                             registry_client_certs={handle.host: (client.cert_file, client.key_file)})
    assert result.pushed == (f"{repo}:latest",) and not result.failed


def test_manifest_push_from_spec(
    tmp_path: Path, registry: RegistryHandle, busybox_layout: Path
) -> None:
    repo = f"{registry.host}/{unique_repo('api')}"
    for arch in ("amd64", "arm64"):
        builder.copy(f"oci:{busybox_layout}:latest", f"{repo}:{arch}", platform=f"linux/{arch}",
                     insecure_registries=[registry.host])  # fmt: skip
    pushed = multiarch.manifest_push_from_spec(f"""
image: {repo}:1.0
tags: [stable]
manifests:
  - image: {repo}:amd64
    platform: {{os: linux, architecture: amd64}}
  - image: {repo}:arm64
    platform: {{os: linux, architecture: arm64, variant: v8}}
""", insecure=True)  # fmt: skip
    assert pushed.pushed == (f"{repo}:1.0", f"{repo}:stable")
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{repo}:stable")
    assert pushed.digest == f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}"
    arches = [m["platform"]["architecture"] for m in json.loads(raw)["manifests"]]
    assert arches == ["amd64", "arm64"]


def test_copy_manifest_push_and_inspect_with_a_client_certificate(
    busybox_layout: Path, mtls_registry: tuple[RegistryHandle, ClientCert]
) -> None:
    handle, client = mtls_registry
    assert handle.ca_file is not None
    tls = {"registry_certificates": {handle.host: handle.ca_file},
           "registry_client_certs": {handle.host: (client.cert_file, client.key_file)}}
    repo = f"{handle.host}/{unique_repo('api-mtls-index')}"
    for arch in ("amd64", "arm64"):
        builder.copy(f"oci:{busybox_layout}:latest", f"docker://{repo}:{arch}",
                     platform=f"linux/{arch}", **tls)  # fmt: skip
    pushed = multiarch.manifest_push_from_spec(f"""
image: {repo}:1.0
manifests:
  - image: {repo}:amd64
    platform: {{os: linux, architecture: amd64}}
  - image: {repo}:arm64
    platform: {{os: linux, architecture: arm64}}
""", **tls)  # fmt: skip
    info = multiarch.manifest_inspect(f"{repo}:1.0", **tls)
    assert info.digest == pushed.digest
    assert [e.platform.architecture for e in info.manifests if e.platform] == ["amd64", "arm64"]


def test_spec_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        multiarch.load_spec("platforms: [linux/amd64]\nrunner_tags: 3\n")
    assert str(caught.value).startswith("<spec>:2:1: ")
    spec_file = tmp_path / "build.yaml"
    spec_file.write_text("platforms:\n  - platform: linux/amd64\n    runner: sshh://x\n")
    where = rf"^{spec_file}:3:13: platforms\[0\].runner: unknown scheme"
    with pytest.raises(SpecError, match=where):
        multiarch.load_spec(spec_file)
    spec = multiarch.load_spec("platforms: [linux/amd64]\n")
    with pytest.raises(UsageError, match="linux/s390x is not a platform of the spec"):
        multiarch.build(spec, runners={"linux/s390x": "local"})
    with pytest.raises(UsageError, match=r"runners\['linux/amd64'\]: unknown scheme 'ftp'"):
        multiarch.build(spec, runners={"linux/amd64": "ftp://x"})
