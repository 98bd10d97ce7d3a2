"""The trust model of --isolation container-root, tested: a RUN step (as root, then as an
unprivileged USER) tries every place a registry credential could be found and reports what
it reached, while the builder pushes with that credential to a registry with basic auth.

The same build mounts a build secret (RUN --mount=type=secret): the step reads it at its
target, with the mount's mode and owner, and neither the value nor the builder's paths reach
the layers, config or history; a file the image had at a target comes back unchanged. Bind,
tmpfs and cache mounts, and a heredoc script, are placed and taken away the same way.

Reachable by design (README: "What a RUN step can see"): a config.json the job put in a kept
path (/kaniko/.docker, a mounted volume), for root steps. Not reachable: the builder's
environment (/proc/PID/environ is blanked once the logins are read), the step's own
environment (only the Dockerfile's), anything under the builder's directory (mode 0700 for
non-root steps; no token is ever written there)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from tests.fixtures.project_image import ProjectImage, podman_run
from tests.fixtures.registry import RegistryHandle

PROBE = r"""probe() {
  SECRET=$1 found=""
  env | grep -v "^SECRET=" | grep -q "$SECRET" && found="$found env"
  for f in /proc/[0-9]*/environ; do grep -q "$SECRET" "$f" 2>/dev/null && found="$found proc-environ"; done
  grep -q "$SECRET" /kaniko/.docker/config.json 2>/dev/null && found="$found kaniko-config"
  grep -rqs "$SECRET" /multiarch 2>/dev/null && found="$found builder-dir"
  ls /multiarch >/dev/null 2>&1 && found="$found builder-dir-listable"
  echo "$(id -u):$found"
}"""


def test_what_a_run_step_can_reach(project_image: ProjectImage, basic_registry: RegistryHandle,
                                   tmp_path: Path) -> None:  # fmt: skip
    assert basic_registry.username and basic_registry.password
    secret = basic_registry.password
    # The step greps for the password's base64 too: config.json holds it that way.
    login = base64.b64encode(f"{basic_registry.username}:{secret}".encode()).decode()
    context, docker = tmp_path / "context", tmp_path / "docker"
    context.mkdir()
    docker.mkdir()
    config = docker / "config.json"
    config.write_text(json.dumps({"auths": {basic_registry.host: {"auth": login}}}))
    config.chmod(0o600)
    (context / "probe.sh").write_text(PROBE)
    keys = tmp_path / "ci-keys"
    keys.mkdir()
    npm_token = "npm-token-" + base64.b32encode(secret.encode()).decode()
    (keys / "npm-credentials").write_text(npm_token)
    (context / "Dockerfile").write_text(
        "FROM oci:/base:busybox\n"
        "COPY probe.sh /probe.sh\n"
        "RUN mkdir -p /etc/app && echo image-own > /etc/app/token && chmod 640 /etc/app/token\n"
        "RUN --mount=type=secret,id=npm,target=/etc/app/token "
        "--mount=type=secret,id=npm,target=/root/.npmrc,mode=0440,uid=1000,gid=1000 "
        "--mount=type=secret,id=npm "
        "for f in /etc/app/token /root/.npmrc /run/secrets/npm; do "
        "echo $f $(stat -c %a:%u:%g $f) $(sha256sum < $f); done > /secret-step.txt\n"
        "RUN --mount=type=bind,source=probe.sh,target=/opt/tools/probe.sh "
        "--mount=type=tmpfs,target=/scratch --mount=type=cache,target=/var/cache/app "
        "<<EOF\n#!/bin/sh\n"
        "test -s /opt/tools/probe.sh && touch /opt/tools/probe.sh /scratch/a /var/cache/app/b "
        "&& echo placed > /mounts-step.txt\nEOF\n"
        f"RUN . /probe.sh; probe '{secret}' > /root-step.txt; probe '{login}' >> /root-step.txt\n"
        "USER 1000\n"
        f"RUN . /probe.sh; probe '{secret}' > /tmp/user-step.txt; "
        f"probe '{login}' >> /tmp/user-step.txt\n"
    )
    base = project_image.context / ".image-build" / "base"
    ref = f"{basic_registry.host}/secrets/probe:v1"
    done = podman_run(
        project_image.podman_image("debug", "amd64"),
        "executor", "--context", "/workspace", "--destination", ref,
        "--insecure-registry", basic_registry.host, "--isolation", "container-root",
        "--secret", "id=npm,src=/ci-keys/npm-credentials",
        entrypoint="/multiarch/bin/multiarch",
        extra=("-v", f"{context}:/workspace", "-v", f"{base}:/base:ro",
               "-v", f"{docker}:/kaniko/.docker:ro", "-v", f"{keys}:/ci-keys:ro",
               "-e", f"CI_REGISTRY={basic_registry.host}",
               "-e", f"CI_REGISTRY_USER={basic_registry.username}",
               "-e", f"CI_REGISTRY_PASSWORD={secret}", "-e", f"CI_JOB_TOKEN={secret}"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert secret not in done.stdout + done.stderr and login not in done.stdout + done.stderr
    assert npm_token not in done.stdout + done.stderr
    unpacked = tmp_path / "image"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--src-creds",
                    f"{basic_registry.username}:{secret}", f"docker://{ref}",
                    f"oci:{tmp_path / 'layout'}:v1"], check=True, capture_output=True)  # fmt: skip
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path / 'layout'}:v1", str(unpacked)],
                   check=True, capture_output=True)  # fmt: skip
    root_step = (unpacked / "rootfs" / "root-step.txt").read_text().splitlines()
    user_step = (unpacked / "rootfs" / "tmp" / "user-step.txt").read_text().splitlines()
    # the password: nowhere; its base64 form: in the kaniko config.json a root step can read.
    # Root steps may list the builder's directory, but no credential is written there.
    assert root_step == ["0: builder-dir-listable", "0: kaniko-config builder-dir-listable"]
    assert user_step == ["1000:", "1000:"]
    rootfs = unpacked / "rootfs"
    digest = hashlib.sha256(npm_token.encode()).hexdigest()
    assert (rootfs / "secret-step.txt").read_text().splitlines() == [
        f"/etc/app/token 400:0:0 {digest} -",
        f"/root/.npmrc 440:1000:1000 {digest} -",
        f"/run/secrets/npm 400:0:0 {digest} -",
    ]
    token = rootfs / "etc" / "app" / "token"
    assert token.read_text() == "image-own\n" and token.stat().st_mode & 0o777 == 0o640
    assert not (rootfs / "root" / ".npmrc").exists() and not (rootfs / "run" / "secrets").exists()
    blobs = [b.read_bytes() for b in (tmp_path / "layout" / "blobs" / "sha256").iterdir()]
    layers = [_member_names(gzip.decompress(b)) for b in blobs if b[:2] == b"\x1f\x8b"]
    everything = [gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b for b in blobs]
    for needle in (npm_token, "/ci-keys", "npm-credentials", "secret/value", "multiarch-aside"):
        assert not any(needle.encode() in data for data in everything), needle
    names = [name for layer in layers for name in layer]
    placed = ("run/secrets", "root/.npmrc", "opt/tools", "scratch", "var/cache/app", ".multiarch")
    assert not [n for n in names if n.startswith(placed)]
    assert (rootfs / "mounts-step.txt").read_text() == "placed\n"
    # the steps' layers hold only what they wrote: the token renamed aside and back, the
    # directories made for the targets, and their parents' mtimes add nothing
    assert ["secret-step.txt"] in layers and ["mounts-step.txt"] in layers
    assert names.count("etc/app/token") == 1 and names.count("etc/app") == 1


def _member_names(tar: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return [name.removeprefix("./").rstrip("/") for name in archive.getnames()]
