"""Secrets never leak: registry passwords (basic and token auth, from DOCKER_CONFIG), the
bearer tokens the builder was issued, `--secret` values and the attestations' signing key
($MULTIARCH_SIGN_KEY) are absent from every output of a build at every --verbosity: logs,
--metadata-file, --json-result, the image's layers, config and history (read from
--tar-path), the OCI layout, the attestations (SLSA provenance mode=max and the SBOM, in the
layout and in the registry, DSSE envelopes read with their payloads decoded), and the error
message of a failing build."""

from __future__ import annotations

import base64
import gzip
import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from builder.attest import list_attestations, read_attestation
from builder.options import Verbosity
from builder.transports import TransportContext
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.signing_keys import write_key_pair
from tests.reliability.helpers import environ, ok, run_cli, write_context

SECRET = "build-secret-" + "q7" * 12


def docker_config(directory: Path, *registries: RegistryHandle) -> Path:
    auths = {r.host: {"auth": base64.b64encode(f"{r.username}:{r.password}".encode()).decode()} for r in registries}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"auths": auths}))
    return directory


def with_dsse_payloads(files: list[bytes]) -> list[bytes]:
    """The files, and the decoded payload of each DSSE envelope among them (base64 would hide
    a secret from a plain search)."""
    payloads = []
    for data in files:
        try:
            document = json.loads(data)
        except ValueError:
            continue
        if isinstance(document, dict) and "payloadType" in document:
            payloads.append(base64.b64decode(document["payload"]))
    return files + payloads


def registry_attestations(image: str, registry: RegistryHandle) -> list[bytes]:
    ctx = TransportContext(registry.options())
    try:
        return [read_attestation(image, r, ctx) for r in list_attestations(image, ctx)]
    finally:
        ctx.close()


def archive_texts(tar_path: Path) -> list[bytes]:
    """Every member of a docker-archive, gzip layers decompressed."""
    texts = []
    with tarfile.open(tar_path) as archive:
        for member in archive.getmembers():
            if member.isfile():
                data = archive.extractfile(member).read()  # type: ignore[union-attr]
                texts.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return texts


@pytest.fixture
def issued_tokens(token_server, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tokens: list[str] = []
    original = token_server.issue

    def recording(user, scopes):
        answer = original(user, scopes)
        tokens.append(answer.get("token") or answer.get("access_token"))
        return answer

    monkeypatch.setattr(token_server, "issue", recording)
    return tokens


def test_no_secret_in_any_output_at_any_verbosity(
    tmp_path: Path, basic_registry: RegistryHandle, token_registry: RegistryHandle, busybox_layout: Path,
    issued_tokens: list[str],
) -> None:
    base_repo = unique_repo("bob")  # alice may push anywhere on the token registry
    base = f"{token_registry.host}/{base_repo}:base"
    ok(run_cli("copy", "--platform", "linux/amd64", "--dest-tls-verify=false",
               "--dest-creds", f"{token_registry.username}:{token_registry.password}",
               f"oci:{busybox_layout}:latest", f"docker://{base}"))
    config_dir = docker_config(tmp_path / "docker", basic_registry, token_registry)
    (tmp_path / "secret.txt").write_text(SECRET)
    signing = write_key_pair(tmp_path / "keys", "ed25519")
    env = environ(DOCKER_CONFIG=str(config_dir), MULTIARCH_SIGN_KEY=signing.private_pem)

    def build(level: str, failing: bool) -> tuple[str, list[bytes]]:
        name = f"{level}-{'fail' if failing else 'ok'}"
        context = write_context(tmp_path / name, (
            f"FROM {base}\n"
            "RUN --mount=type=secret,id=x cat /run/secrets/x && cp /run/secrets/x /tmp/copy && rm /tmp/copy"
            + (" && echo failing with $(cat /run/secrets/x) && exit 3\n" if failing else "\n")
        ))
        out = tmp_path / f"{name}-out"
        out.mkdir()
        destination = f"{basic_registry.host}/{unique_repo('secrets')}:{level}"
        done = run_cli("executor", "--context", str(context), "--dockerfile", str(context / "Dockerfile"),
                       "--destination", destination, "--provenance=mode=max", "--sbom",
                       "--oci-layout-path", str(out / "layout"),
                       "--insecure-registry", basic_registry.host, "--insecure-registry", token_registry.host,
                       "--secret", f"id=x,src={tmp_path / 'secret.txt'}", "--verbosity", level,
                       "--metadata-file", str(out / "metadata.json"), "--json-result", str(out / "result.json"),
                       "--tar-path", str(out / "image.tar"), env=env)
        assert (done.returncode != 0) == failing, done.stderr[-3000:]
        files = [p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != "image.tar"]
        if (out / "image.tar").exists():
            files += archive_texts(out / "image.tar")
            attached = registry_attestations(f"docker://{destination}", basic_registry)
            assert len(attached) == 2, f"no signed provenance and SBOM pushed at {level}"
            files += attached
        elif not failing:
            raise AssertionError(f"no image written at {level}")
        decoded = with_dsse_payloads(files)
        # signed provenance and SBOM in the layout and in the registry: four envelopes, decoded
        assert failing or len(decoded) == len(files) + 4, f"envelopes missing at {level}"
        return done.stdout + done.stderr, decoded

    runs = [(level.value, False) for level in Verbosity] + [("trace", True), ("info", True)]
    with ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(lambda run: build(*run), runs))
    assert issued_tokens, "the token registry should have issued tokens"
    values = [SECRET, basic_registry.password, token_registry.password, *issued_tokens,
              *signing.secret_lines()]
    for (level, failing), (log, files) in zip(runs, outputs):
        for value in values:
            assert value not in log, f"secret in the log at --verbosity {level} (failing={failing})"
            for data in files:
                assert value.encode() not in data, f"secret in an output file at --verbosity {level}"
