"""`multiarch executor --provenance --sign-key`: the provenance attached beside the pushed image
and in the OCI layout is a DSSE envelope that `multiarch verify` accepts; the key comes from
a file or from $MULTIARCH_SIGN_KEY (PEM text or a path); the key itself on the command line
and an unusable key fail before the build, in one line; the key is in no output."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.attest import list_attestations, read_attestation
from builder.transports import TransportContext
from tests.e2e.test_executor import executor, own_store, write_context  # noqa: F401
from tests.fixtures.intoto import validated_slsa_provenance
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.signing_keys import KeyPair, write_key_pair

DSSE = "application/vnd.dsse.envelope.v1+json"


def verify(image: str, key: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "verify", image, "--key", str(key), *extra],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def key(tmp_path: Path) -> KeyPair:
    return write_key_pair(tmp_path / "keys", "p256")


def every_output(*roots: Path) -> list[bytes]:
    return [p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("source", ["flag", "env-text", "env-path"])
def test_signed_provenance_verifies(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, key: KeyPair, source: str,
    own_store: Path,  # noqa: F811
) -> None:
    context = write_context(tmp_path, f"FROM {busybox_image}\nRUN echo built > /built\n")
    ref = f"{registry.host}/{unique_repo('signed')}:v1"
    layout, out = tmp_path / "layout", tmp_path / "out"
    out.mkdir()
    env = dict(os.environ)
    flags = ["--sign-key", str(key.private)] if source == "flag" else []
    if source == "env-text":
        env["MULTIARCH_SIGN_KEY"] = key.private_pem
    elif source == "env-path":
        env["MULTIARCH_SIGN_KEY"] = str(key.private)
    done = executor(
        "--context", str(context), "--destination", ref, "--insecure-registry", registry.host,
        "--oci-layout-path", str(layout), "--provenance", *flags, "--verbosity", "trace",
        "--metadata-file", str(out / "metadata.json"), "--json-result", str(out / "result.json"),
        "--digest-file", str(out / "digest"), env=env,
    )
    digest = (out / "digest").read_text()
    ctx = TransportContext(registry.options())
    for image in (f"docker://{ref}", f"oci:{layout}:v1"):
        [record] = list_attestations(image, ctx)
        assert (record.subject, record.media_type, record.signed) == (digest, DSSE, True)
        envelope = json.loads(read_attestation(image, record, ctx))
        document = validated_slsa_provenance(base64.b64decode(envelope["payload"]))
        assert document["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
        checked = verify(image, key.public, "--json")
        assert checked.returncode == 0, checked.stderr
        assert json.loads(checked.stdout)["verified"] is True
    outputs = [done.stdout.encode(), done.stderr.encode(), *every_output(layout, out)]
    for line in key.secret_lines():
        assert not any(line.encode() in data for data in outputs), line
    assert "signing attestations with signing key" in done.stderr


def test_key_on_the_command_line_is_refused(tmp_path: Path, key: KeyPair) -> None:
    context = write_context(tmp_path, "FROM scratch\n")
    done = executor("--context", str(context), "--no-push", "--provenance",
                    "--sign-key", key.private_pem, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == (
        "error: --sign-key takes a file or env://NAME, never the key itself"
    )
    assert not any(line in done.stderr for line in key.secret_lines())


def test_unusable_key_fails_before_the_build(tmp_path: Path, key: KeyPair) -> None:
    context = write_context(tmp_path, "FROM scratch\nRUN never-runs\n")
    done = executor("--context", str(context), "--no-push", "--provenance",
                    "--sign-key", str(key.public), check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[0] == (
        f"error: {key.public}: not a PEM private key (it is a public key)"
    )
    unset = executor("--context", str(context), "--no-push", "--provenance",
                     "--sign-key", "env://MULTIARCH_TEST_NO_KEY", check=False)
    assert unset.returncode == 1
    assert unset.stderr.splitlines()[0] == (
        "error: $MULTIARCH_TEST_NO_KEY is not set (--sign-key env://MULTIARCH_TEST_NO_KEY)"
    )
