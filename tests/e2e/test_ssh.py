"""The ssh runner against a real sshd on 127.0.0.1 (own host keys, authorized_keys and config,
free port), reached with the system ssh client through an ssh_config file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import multiarch as multiarch_api  # this module names its CLI helper `multiarch`
from builder.attest import list_attestations
from builder.events import Event, PlatformFinished, StepFinished, StepStarted
from builder.transports import TransportContext
from tests.fixtures.registry import RegistryHandle, free_port, unique_repo
from tests.fixtures.tags import referrers_tags, registry_tags
from tests.fixtures.waiting import wait_for


@dataclass(frozen=True)
class SSHHost:
    alias: str
    config_file: Path
    executor: Path


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHHost]:
    work = tmp_path_factory.mktemp("sshd")
    _keygen(work / "host_key")
    _keygen(work / "client_key")
    (work / "authorized_keys").write_text((work / "client_key.pub").read_text())
    port = free_port()
    (work / "sshd_config").write_text(textwrap.dedent(f"""
        ListenAddress 127.0.0.1
        Port {port}
        HostKey {work}/host_key
        AuthorizedKeysFile {work}/authorized_keys
        PidFile {work}/sshd.pid
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin prohibit-password
        UsePAM no
        StrictModes no
    """))  # fmt: skip
    host_key = (work / "host_key.pub").read_text().split()
    (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (work / "ssh_config").write_text(textwrap.dedent(f"""
        Host builder-test
          HostName 127.0.0.1
          Port {port}
          User root
          IdentityFile {work}/client_key
          IdentitiesOnly yes
          UserKnownHostsFile {work}/known_hosts
          StrictHostKeyChecking yes
          LogLevel ERROR
    """))  # fmt: skip
    executor = work / "multiarch"
    # sshd gives sessions a minimal environment: point at this interpreter explicitly.
    executor.write_text(f"#!/bin/sh\nexec {sys.executable} -m multiarch.cli \"$@\"\n")
    executor.chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)
    process = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(work / "sshd_config")],
        stdout=subprocess.DEVNULL, stderr=open(work / "sshd.log", "wb"),
    )  # fmt: skip
    try:
        wait_for(lambda: _listening(port), timeout=20, what="sshd")
        yield SSHHost("builder-test", work / "ssh_config", executor)
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_spec(tmp_path: Path, base: str, image: str, host: SSHHost, platforms: str) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(f"FROM {base}\nRUN uname -m > /arch\nCOPY note.txt /note.txt\n")
    (tmp_path / "app" / "note.txt").write_text("sent over ssh\n")
    spec = tmp_path / "build.yaml"
    spec.write_text(
        f"image: {image}\ncontext: app\n"
        f"ssh: {{config_file: {host.config_file}, executor: {host.executor}}}\n"
        f"platforms:\n{textwrap.indent(textwrap.dedent(platforms), '  ')}"
    )
    return spec


def multiarch(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    return subprocess.run([sys.executable, "-m", "multiarch.cli", *argv], capture_output=True, text=True, env=env, timeout=300)


def test_ssh_runner_builds_on_the_remote_host(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, ssh_host: SSHHost
) -> None:
    image = f"{registry.host}/{unique_repo('ssh')}:v1"
    spec = write_spec(tmp_path, busybox_image, image, ssh_host, """
        - platform: linux/amd64
          runner: ssh://root@builder-test
        - linux/arm64
    """)  # fmt: skip
    # No --insecure-registry: the remote executor reaches the loopback registry over plain HTTP.
    done = multiarch("build", str(spec), "--metadata-file", str(tmp_path / "m.json"))
    assert done.returncode == 0, done.stderr
    index = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"], check=True, capture_output=True, text=True,
    ).stdout)  # fmt: skip
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]
    meta = json.loads((tmp_path / "m.json").read_text())
    assert [p["runner"] for p in meta["platforms"]] == ["ssh://root@builder-test", "local (QEMU)"]
    # The remote host pushed its image by digest into the image's repository, with its
    # provenance (each platform's builder attaches its own): no tag but the referrers tags.
    amd64 = meta["platforms"][0]["digest"]
    assert amd64 == index["manifests"][0]["digest"]
    repository = image.removeprefix(f"{registry.host}/").removesuffix(":v1")
    assert sorted(registry_tags(registry.url, repository)) == sorted(["v1", *referrers_tags(index)])
    records = list_attestations(f"docker://{image}", TransportContext(registry.options()))
    assert [(r.platform, r.subject) for r in records] == [
        ("linux/amd64", amd64), ("linux/arm64", index["manifests"][1]["digest"]),
    ]


def test_ssh_host_of_the_wrong_architecture_is_refused(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, ssh_host: SSHHost
) -> None:
    image = f"{registry.host}/{unique_repo('ssh')}:v1"
    spec = write_spec(tmp_path, busybox_image, image, ssh_host, """
        - platform: linux/arm64
          runner: ssh://root@builder-test
    """)  # fmt: skip
    done = multiarch("build", str(spec), "--insecure-registry", registry.host)
    assert done.returncode == 1
    assert "the ssh host ssh://root@builder-test is linux/amd64 (x86_64), it cannot build linux/arm64" in done.stderr


def test_unreachable_ssh_host_names_the_host(tmp_path: Path, busybox_image: str, ssh_host: SSHHost) -> None:
    spec = write_spec(tmp_path, busybox_image, "127.0.0.1:1/x", ssh_host, f"""
        - platform: linux/amd64
          runner: ssh://root@127.0.0.1:{free_port()}
    """)  # fmt: skip
    done = multiarch("build", str(spec))
    assert done.returncode == 1
    assert "ssh to ssh://root@127.0.0.1:" in done.stderr and "failed" in done.stderr


def test_remote_host_pushes_by_digest_when_the_spec_names_an_image(tmp_path: Path, ssh_host: SSHHost) -> None:
    from multiarch.plan import make_plan
    from multiarch.runners.ssh import remote_script
    from multiarch.spec import load_build_spec

    spec = write_spec(tmp_path, "scratch", "127.0.0.1:5000/team/app:v1", ssh_host, """
        - platform: linux/amd64
          runner: ssh://root@builder-test
    """)  # fmt: skip
    plan = make_plan(load_build_spec(spec))
    script = remote_script(plan, plan.jobs[0])
    assert "--push-by-digest 127.0.0.1:5000/team/app " in script
    assert "--no-push" not in script and "-cf - result.json" in script


def test_spec_without_a_registry_image_streams_the_layout_back(
    tmp_path: Path, busybox_image: str, registry: RegistryHandle, ssh_host: SSHHost
) -> None:
    spec = write_spec(tmp_path, busybox_image, "unused", ssh_host, """
        - platform: linux/amd64
          runner: ssh://root@builder-test
    """)  # fmt: skip
    out = tmp_path / "out"
    spec.write_text(spec.read_text().replace("image: unused\n", f"destinations: ['oci:{out}:v1']\n"))
    done = multiarch("build", str(spec), "--insecure-registry", registry.host)
    assert done.returncode == 0, done.stderr
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"], index


def test_api_build_on_an_ssh_runner_relays_the_remote_steps(
    tmp_path: Path, busybox_image: str, registry: RegistryHandle, ssh_host: SSHHost
) -> None:
    spec = write_spec(tmp_path, busybox_image, "unused", ssh_host, "- linux/amd64\n")
    out = tmp_path / "out"
    spec.write_text(spec.read_text().replace("image: unused\n", f"destinations: ['oci:{out}:v1']\n"))
    seen: list[Event] = []
    result = multiarch_api.build(spec, runners={"linux/amd64": "ssh://root@builder-test"},
                             insecure_registries=[registry.host], progress=seen.append)  # fmt: skip
    assert [p.runner for p in result.platforms] == ["ssh://root@builder-test"]
    names = [e.name for e in seen if isinstance(e, StepStarted)]
    assert any(name.endswith("RUN uname -m > /arch") for name in names), names
    assert sum(isinstance(e, StepFinished) for e in seen) == len(names)
    [finished] = [e for e in seen if isinstance(e, PlatformFinished)]
    assert finished.digest == result.platforms[0].digest
    index = json.loads((out / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [result.digest]
