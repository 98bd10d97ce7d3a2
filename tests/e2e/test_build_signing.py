"""`multiarch build --sign-key` / the spec's `sign_key:`. A 2-platform build attaches signed
provenance per platform (found through the referrers tag schema); `multiarch verify` passes,
then fails with a wrong key and on a tampered envelope; skopeo still lists two platforms.
How the key reaches each runner — local: the executor in this process reads the file or
variable; ssh: the key travels on the connection's stdin into the job's private temp dir,
never on the remote command line, and is gone when the job ends; GitLab: each job reads a
CI/CD variable (`sign_key: env://NAME`), a key file in the repository is refused. A bad key,
or the key itself in a flag or spec, fails before any platform builds, in one line that never
quotes it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from builder.attest import list_attestations, read_attestation
from builder.reference import parse_reference
from builder.registry import RegistryClient
from builder.transports import TransportContext
from tests.e2e.test_ssh import SSHHost, ssh_host, write_spec  # noqa: F401
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.signing_keys import KeyPair, write_key_pair
from tests.fixtures.tags import registry_tags
from tests.fixtures.tampering import tamper_first_attestation

PROVENANCE = "https://slsa.dev/provenance/v1"
SPDX = "https://spdx.dev/Document"


def multiarch(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "MULTIARCH_SIGN"))}
    return subprocess.run([sys.executable, "-m", "multiarch.cli", *argv], capture_output=True,
                          text=True, env={**base, **(env or {})}, timeout=300)


@pytest.fixture
def key(tmp_path: Path) -> KeyPair:
    return write_key_pair(tmp_path / "keys", "ed25519")


def test_bad_key_fails_before_any_platform_builds(
    tmp_path: Path, registry: RegistryHandle, key: KeyPair
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    repo = unique_repo("signbuild")
    image = f"{registry.host}/{repo}:v1"
    done = multiarch("build", "--platform", "linux/amd64,linux/arm64", "-t", image,
                     "--sign-key", str(key.public), str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        f"error: {key.public}: not a PEM private key (it is a public key)"
    )
    assert registry_tags(registry.url, repo) == []
    unset = multiarch("build", "--platform", "linux/amd64", "-t", image, str(tmp_path),
                      env={"MULTIARCH_SIGN_KEY": str(tmp_path / "gone.pem")})
    assert unset.returncode == 1 and "cannot read the key" in unset.stderr.splitlines()[0]


def test_the_key_itself_is_refused_in_flag_and_spec(tmp_path: Path, key: KeyPair) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    flag = multiarch("build", "--platform", "linux/amd64", "--sign-key", key.private_pem,
                     str(tmp_path))
    assert flag.returncode == 2
    assert flag.stderr.splitlines()[0] == (
        "error: --sign-key takes a file or env://NAME, never the key itself"
    )
    spec = tmp_path / "build.yaml"
    spec.write_text("platforms: [linux/amd64]\nsign_key: |\n"
                    + "".join(f"  {line}\n" for line in key.private_pem.splitlines()))
    done = multiarch("build", str(spec))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "sign_key" in done.stderr and "never the key itself" in done.stderr
    for output in (flag.stderr, done.stderr):
        assert not any(line in output for line in key.secret_lines())


def test_gitlab_jobs_read_the_key_from_a_ci_variable(tmp_path: Path, key: KeyPair) -> None:
    spec = tmp_path / "build.yaml"
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    body = ("image: registry.example/team/app:v1\nplatforms:\n"
            "  - {platform: linux/amd64, runner: gitlab, runner_tags: [amd64]}\n"
            "  - {platform: linux/arm64, runner: gitlab, runner_tags: [arm64]}\n")
    spec.write_text(body + "sign_key: env://PROJECT_SIGN_KEY\n")
    done = subprocess.run([sys.executable, "-m", "multiarch.cli", "ci", "gitlab", str(spec)],
                          capture_output=True, text=True, cwd=tmp_path, check=True)
    pipeline = yaml.safe_load(done.stdout)
    for job in ("build:linux-amd64", "build:linux-arm64"):
        assert "--sign-key env://PROJECT_SIGN_KEY" in pipeline[job]["script"][-1]
    spec.write_text(body + f"sign_key: {key.private}\n")
    refused = subprocess.run([sys.executable, "-m", "multiarch.cli", "ci", "gitlab", str(spec)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[0] == (
        f"error: sign_key: {str(key.private)!r}: a GitLab job reads its key from a CI/CD variable"
    )


def test_ssh_runner_hands_the_key_over_on_stdin(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, ssh_host: SSHHost,  # noqa: F811
    key: KeyPair,
) -> None:
    """The remote executor is wrapped to record its command line and the key file it was
    given (digest, mode), before running the real executor."""
    seen = tmp_path / "seen"
    seen.mkdir()
    wrapper = tmp_path / "remote-multiarch"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {seen}/argv\n'
        'prev=""; for a in "$@"; do\n'
        f'  if [ "$prev" = --sign-key ]; then echo "$a" > {seen}/path;'
        f' sha256sum < "$a" | cut -d" " -f1 > {seen}/sha; stat -c %a "$a" > {seen}/mode; fi\n'
        '  prev="$a"\ndone\n'
        f'exec {ssh_host.executor} "$@"\n'
    )
    wrapper.chmod(0o755)
    image = f"{registry.host}/{unique_repo('sshsign')}:v1"
    spec = write_spec(tmp_path, busybox_image, image, ssh_host, """
        - platform: linux/amd64
          runner: ssh://root@builder-test
    """)  # fmt: skip
    spec.write_text(spec.read_text().replace(str(ssh_host.executor), str(wrapper))
                    + f"sign_key: {key.private}\n")
    done = multiarch("build", str(spec))
    assert done.returncode == 0, done.stderr
    expected = hashlib.sha256(key.private.read_bytes()).hexdigest()
    assert (seen / "sha").read_text().strip() == expected
    assert (seen / "mode").read_text().strip() == "600"
    assert not Path((seen / "path").read_text().strip()).exists()  # removed with the job
    argv = (seen / "argv").read_text()
    assert "--sign-key" in argv
    # provenance is on for registry pushes: the remote host signed it with the key it was given
    checked = multiarch("verify", f"docker://{image}", "--key", str(key.public))
    assert checked.returncode == 0, checked.stderr
    for output in (argv, done.stdout, done.stderr):
        assert not any(line in output for line in key.secret_lines())


def test_two_platform_build_attaches_signed_attestations(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, key: KeyPair
) -> None:
    """The issue's end-to-end check: per platform, a signed SBOM and a signed provenance found
    through the referrers tag schema; `multiarch verify` passes, then fails with a wrong key
    and on a tampered envelope; skopeo still lists exactly the two platforms."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN uname -m > /arch\n")
    image = f"{registry.host}/{unique_repo('signbuild')}:v1"
    done = multiarch("build", "--platform", "linux/amd64,linux/arm64", "-t", image,
                     "--provenance", "--sbom", "--sign-key", str(key.private),
                     str(tmp_path / "app"))
    assert done.returncode == 0, done.stderr
    index = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"],
        check=True, capture_output=True, text=True).stdout)
    digests = [entry["digest"] for entry in index["manifests"]]
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64", "arm64"]

    records = list_attestations(f"docker://{image}", TransportContext(registry.options()))
    assert sorted((r.platform, r.subject, r.predicate_type, r.stored, r.signed)
                  for r in records) == [
        (platform, digest, kind, "tag schema", True)
        for platform, digest in zip(("linux/amd64", "linux/arm64"), digests)
        for kind in (PROVENANCE, SPDX)
    ]
    busyboxes = {}
    for record in records:
        if record.predicate_type == SPDX:
            envelope = json.loads(read_attestation(f"docker://{image}", record,
                                                   TransportContext(registry.options())))
            sbom = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
            busyboxes[record.platform] = [f["checksums"] for f in sbom["files"]
                                          if f["fileName"] == "./bin/busybox"]
    assert busyboxes["linux/amd64"] and busyboxes["linux/arm64"]
    assert busyboxes["linux/amd64"] != busyboxes["linux/arm64"]  # each platform's own root
    checked = multiarch("verify", f"docker://{image}", "--key", str(key.public), "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert [p["digest"] for p in report["platforms"]] == digests
    assert all(a["status"] == "verified" for p in report["platforms"] for a in p["attestations"])

    other = write_key_pair(tmp_path / "other", "p256")
    wrong = multiarch("verify", f"docker://{image}", "--key", str(other.public))
    assert wrong.returncode == 1 and wrong.stderr.count(" not signed by key ") == 4

    with RegistryClient(registry.options()) as client:
        forged = tamper_first_attestation(
            client, parse_reference(image).repository_ref(), digests[1],
            lambda statement: statement["subject"][0]["digest"].update(sha256="0" * 64),
        )
    tampered = multiarch("verify", f"docker://{image}", "--key", str(key.public))
    assert tampered.returncode == 1
    assert tampered.stderr.splitlines()[0].startswith(f"linux/arm64 {PROVENANCE} ({forged}): ")
    assert "does not verify" in tampered.stderr.splitlines()[0]
    after = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"],
        check=True, capture_output=True, text=True).stdout)
    assert len(after["manifests"]) == 2
    for output in (done.stdout, done.stderr, checked.stdout, wrong.stderr, tampered.stderr):
        assert not any(line in output for line in key.secret_lines())
