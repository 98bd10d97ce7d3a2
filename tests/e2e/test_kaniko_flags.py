"""kaniko's executor flags, all of them, so a kaniko job migrates by changing one word: each
is accepted (those without an effect here say so in --help); the ones with an effect do what
kaniko's do — a context sub-path and a git branch, registry maps with and without the fallback
to the registry itself, client certificates for a mutual-TLS registry, immutable tags, log
timestamps, the deprecated camel-case spellings."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.test_executor import executor, write_context
from tests.e2e.test_executor_sources import git_daemon  # noqa: F401  (fixture)
from tests.fixtures.registry import RegistryHandle, free_port, unique_repo
from tests.fixtures.tls import ClientCert, skopeo_cert_dir

# kaniko's `executor` flags (cmd/executor/cmd/root.go of its last release, and the logging
# flags of its root command), each with a value it takes; --bucket is left out: a GCS
# context, refused as gs:// contexts are (tested below).
KANIKO_FLAGS = [
    "--dockerfile=Dockerfile", "--context-sub-path=.", "--snapshot-mode=redo",
    "--custom-platform=linux/amd64", "--build-arg=A=1", "--insecure", "--skip-tls-verify",
    "--insecure-pull", "--skip-tls-verify-pull", "--push-retry=1",
    "--push-ignore-immutable-tag-errors", "--image-fs-extract-retry=1",
    "--image-download-retry=1", "--kaniko-dir=/kaniko", "--tar-path=/tmp/x.tar",
    "--single-snapshot", "--reproducible", "--target=final", "--no-push", "--no-push-cache",
    "--cache-repo=127.0.0.1:1/cache", "--cache-dir=/tmp/cache", "--digest-file=/tmp/d",
    "--image-name-with-digest-file=/tmp/n", "--image-name-tag-with-digest-file=/tmp/t",
    "--oci-layout-path=/tmp/o", "--cache", "--compressed-caching=false", "--cleanup",
    "--cache-ttl=24h", "--insecure-registry=127.0.0.1:1", "--skip-tls-verify-registry=x:1",
    "--registry-certificate=x:1=/dev/null", "--registry-mirror=mirror.example:1",
    "--registry-map=index.docker.io=mirror.example:1;quay.io=mirror.example:2",
    "--registry-client-cert=x:1=/dev/null,/dev/null", "--skip-default-registry-fallback",
    "--log-timestamp",
    "--ignore-var-run=false", "--label=a=b", "--skip-unused-stages", "--use-new-run",
    "--git=branch=main", "--cache-copy-layers", "--cache-run-layers=false",
    "--ignore-path=/var/cache", "--force-build-metadata", "--verbosity=info",
    "--log-format=text", "--skip-push-permission-check", "--preserve-context",
    "--materialize", "--credential-helpers=ecr-login", "--snapshotMode=full",
    "--customPlatform=linux/amd64", "--tarPath=/tmp/y.tar", "--destination=127.0.0.1:1/x:y",
]


def test_every_kaniko_flag_is_accepted(tmp_path: Path, busybox_layout: Path) -> None:
    context = write_context(tmp_path, f"FROM oci:{busybox_layout}:latest AS final\nRUN true\n")
    done = executor("--context", str(context), *KANIKO_FLAGS, "--check", check=False)
    assert done.returncode == 0, done.stderr
    assert "RUN true" in done.stdout  # the --check outline of the build
    for old in ("--snapshotMode", "--customPlatform", "--tarPath"):
        assert f"warning: {old} is deprecated" in done.stderr


def test_bucket_is_refused_as_a_cloud_context(tmp_path: Path) -> None:
    done = executor("--bucket", "my-bucket", "--no-push", check=False)
    assert done.returncode == 2
    assert "--context gs://my-bucket: cloud storage contexts are not supported" in done.stderr


def test_context_sub_path_and_git_branch(tmp_path: Path, busybox_layout: Path,
                                         git_daemon: tuple[str, Path]) -> None:  # noqa: F811
    url, base = git_daemon
    work = tmp_path / "work"
    (work / "app").mkdir(parents=True)
    (work / "app/Dockerfile").write_text(f"FROM oci:{busybox_layout}:latest\nCOPY msg /msg\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    for branch, text in (("main", "main\n"), ("release", "release\n")):
        if branch != "main":
            subprocess.run([*git, "checkout", "-q", "-b", branch], check=True)
        (work / "app/msg").write_text(text)
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-q", "-m", branch], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(base / "repo.git")], check=True)
    layout = tmp_path / "out"
    done = executor("--context", f"{url}/repo.git", "--git", "branch=release",
                    "--context-sub-path", "app", "--no-push", "--oci-layout-path", str(layout),
                    "--log-timestamp")
    logged = [line for line in done.stderr.splitlines() if "wrote oci:" in line]
    assert logged and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", logged[0]), logged
    unpacked = tmp_path / "unpacked"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(unpacked)],
                   check=True, capture_output=True)
    assert (unpacked / "rootfs/msg").read_text() == "release\n"

    local = executor("--context", str(work), "--context-sub-path", "../..", "--no-push",
                     check=False)
    assert local.returncode == 2 and "--context-sub-path ../..: leaves the context" in local.stderr


def test_registry_map_reads_the_mirror_first(tmp_path: Path, registry: RegistryHandle,
                                             busybox_image: str) -> None:
    """A map to a mirror that has the image is all a build needs (the registry itself is a
    closed port here); a mirror that fails falls back to the registry unless
    --skip-default-registry-fallback, which fails in one line."""
    closed = f"127.0.0.1:{free_port()}"
    repo_tag = busybox_image.removeprefix(f"{registry.host}/")
    env = {**os.environ, "MULTIARCH_RETRY_ATTEMPTS": "1", "MULTIARCH_CACHE_DIR": str(tmp_path / "s")}
    insecure = ["--insecure-registry", registry.host, "--insecure-registry", closed]

    def build(base: str, *flags: str) -> subprocess.CompletedProcess[str]:
        context = write_context(tmp_path / f"build{len(list(tmp_path.glob('build*')))}",
                                f"FROM {base}\nRUN true\n")
        return executor("--context", str(context), "--no-push", *insecure, *flags, env=env,
                        check=False)

    via_mirror = build(f"{closed}/{repo_tag}", "--registry-map", f"{closed}={registry.host}")
    assert via_mirror.returncode == 0, via_mirror.stderr
    fallback = build(busybox_image, "--registry-map", f"{registry.host}={closed}")
    assert fallback.returncode == 0, fallback.stderr
    strict = build(busybox_image, "--registry-map", f"{registry.host}={closed}",
                   "--skip-default-registry-fallback")
    assert strict.returncode == 1
    assert "no mirror has it" in strict.stderr and closed in strict.stderr
    assert "--skip-default-registry-fallback forbids" in strict.stderr
    errors = [line for line in strict.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no mirror has it" in errors[0]
    assert "Traceback" not in strict.stderr


def test_registry_client_cert_pushes_to_a_mutual_tls_registry(
    tmp_path: Path, busybox_layout: Path, mtls_registry: tuple[RegistryHandle, ClientCert]
) -> None:
    handle, client = mtls_registry
    context = write_context(tmp_path, f"FROM oci:{busybox_layout}:latest\nRUN echo mtls > /m\n")
    ref = f"{handle.host}/{unique_repo('mtls')}:v1"
    trust = ["--registry-certificate", f"{handle.host}={handle.ca_file}"]
    refused = executor("--context", str(context), "--destination", ref, *trust, check=False,
                       env={**os.environ, "MULTIARCH_RETRY_ATTEMPTS": "1"})
    assert refused.returncode == 1
    assert f"hint: give one with --registry-client-cert {handle.host}=" in refused.stderr
    executor("--context", str(context), "--destination", ref, *trust,
             "--registry-client-cert", f"{handle.host}={client.cert_file},{client.key_file}")
    assert handle.ca_file is not None
    certs = skopeo_cert_dir(tmp_path / "skopeo-certs", handle.ca_file, client)
    inspected = subprocess.run(["skopeo", "inspect", "--cert-dir", str(certs), f"docker://{ref}"],
                               check=True, capture_output=True, text=True)
    assert '"Architecture": "amd64"' in inspected.stdout


def test_push_ignore_immutable_tag_errors(tmp_path: Path, busybox_layout: Path,
                                          registry: RegistryHandle, fault_proxy: Any) -> None:
    """Behind a proxy that gives the registry ECR's tag immutability: a second image for a
    tag fails the push, unless --push-ignore-immutable-tag-errors, which warns and leaves
    the tag on the first image."""
    proxy, via = fault_proxy(registry)
    proxy.immutable_tags = True
    ref = f"{via.host}/{unique_repo('immutable')}:v1"

    def build(text: str, *flags: str) -> subprocess.CompletedProcess[str]:
        context = write_context(tmp_path / f"c{len(list(tmp_path.glob('c*')))}",
                                f"FROM oci:{busybox_layout}:latest\nRUN echo {text} > /f\n")
        return executor("--context", str(context), "--destination", ref,
                        "--insecure-registry", via.host, *flags, check=False)

    def digest() -> str:
        out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                             check=True, capture_output=True, text=True).stdout
        return str(json.loads(out)["Digest"])

    assert build("first").returncode == 0
    first = digest()
    refused = build("second")
    assert refused.returncode == 1
    assert "cannot be overwritten because the repository is immutable" in refused.stderr
    ignored = build("third", "--push-ignore-immutable-tag-errors")
    assert ignored.returncode == 0, ignored.stderr
    assert "the tag is immutable and already set, left as it is" in ignored.stderr
    assert digest() == first
