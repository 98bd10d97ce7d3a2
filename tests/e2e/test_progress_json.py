"""`--progress json`: every build event as one JSON line on stderr (like buildx's rawjson),
for the executor and for `multiarch build`; real RUN steps, the real registry, a secret that
never reaches an event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.registry import RegistryHandle, unique_repo

SECRET = "s3cr3t-progress-" + "y" * 12


def multiarch(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "multiarch", *argv], capture_output=True,
                          text=True, env=env, cwd="/", timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def events(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line is a JSON object; the events among them (log records have `msg`)."""
    records = [json.loads(line) for line in stderr.splitlines()]
    return [r for r in records if "event" in r]


def test_executor_json_events(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\n"
        "RUN --mount=type=secret,id=token cat /run/secrets/token && uname -m > /arch\n"
    )
    (tmp_path / "token").write_text(SECRET)
    env = {**os.environ, "MULTIARCH_CACHE_DIR": str(tmp_path / "store")}
    ref = f"{registry.host}/{unique_repo('progress')}:v1"
    argv = ("executor", "--context", str(context), "--destination", ref, "--cache=true",
            "--insecure-registry", registry.host, "--custom-platform", "linux/arm64",
            "--secret", f"id=token,src={tmp_path / 'token'}", "--progress", "json")  # fmt: skip
    first = multiarch(*argv, env=env)
    assert SECRET not in first.stderr + first.stdout
    seen = events(first.stderr)
    started = {e["vertex"]: e["name"] for e in seen if e["event"] == "step.started"}
    run = next(v for v, name in started.items() if "RUN --mount" in name)
    assert {e["platform"] for e in seen if "platform" in e} == {"linux/arm64"}
    output = [e["line"] for e in seen if e["event"] == "step.output" and e["vertex"] == run]
    assert "***" in output  # the RUN printed the secret: redacted before the event
    finished = {e["vertex"]: e for e in seen if e["event"] == "step.finished"}
    assert finished[run]["cache"] == "miss" and finished[run]["duration_s"] >= 0
    pushed = [e for e in seen if e["event"] == "blob.pushed"]
    assert any(e["mounted"] for e in pushed)  # the base layer, from the base repository
    assert any(not e["mounted"] and e["size"] > 0 for e in pushed)  # the RUN layer, uploaded
    assert {e["destination"] for e in pushed} == {f"docker://{ref}"}

    second = events(multiarch(*argv, env=env).stderr)
    rerun = next(e for e in second if e["event"] == "step.finished" and e["vertex"] == run)
    assert rerun["cache"] == "hit"


def test_build_json_events(tmp_path: Path, busybox_layout: Path) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM oci:{busybox_layout}:latest\nRUN uname -m > /m\n")
    env = {**os.environ, "MULTIARCH_CACHE_DIR": str(tmp_path / "store")}
    done = multiarch("build", "--platform", "linux/amd64,linux/arm64", "--progress", "json",
                     "-o", f"oci:{tmp_path / 'out'}:v1", str(context), env=env)  # fmt: skip
    seen = events(done.stderr)
    kinds = [e["event"] for e in seen]
    assert kinds.count("platform.started") == 2 and kinds.count("platform.finished") == 2
    finished = {e["platform"]: e for e in seen if e["event"] == "platform.finished"}
    index = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'out'}:v1"],
        check=True, capture_output=True, text=True).stdout)  # fmt: skip
    digests = {f"linux/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]}
    assert {p: e["digest"] for p, e in finished.items()} == digests
    runs = {e["platform"] for e in seen if e["event"] == "step.started" and "RUN" in e["name"]}
    assert runs == {"linux/amd64", "linux/arm64"}
    assert done.stdout.startswith("Digest: sha256:")


def test_build_reports_image_sizes_from_its_own_results(tmp_path: Path, registry: RegistryHandle,
                                                        fault_proxy: Any) -> None:
    """platform.finished's size is the built image's config + layers, taken from the build's
    own report: the registry sees one GET of each platform's manifest (the publishing step's
    check), none for the size."""
    proxy, via = fault_proxy(registry)  # rate 0: records the requests only
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY hello /hello\n")
    (context / "hello").write_text("hello\n")
    env = {**os.environ, "MULTIARCH_CACHE_DIR": str(tmp_path / "store")}
    ref = f"{via.host}/{unique_repo('sizes')}:v1"
    done = multiarch("build", "--platform", "linux/amd64,linux/arm64", "--progress", "json",
                     "--insecure-registry", via.host, "-t", ref, str(context), env=env)  # fmt: skip
    finished = {e["platform"]: e for e in events(done.stderr) if e["event"] == "platform.finished"}
    # (GETs of sha256-HEX tags are the attestations' referrers tag schema, not the images)
    assert proxy.stats.count("GET", "/v2/-/manifests/sha256:") == 2
    for platform, event in finished.items():
        manifest = json.loads(subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false",
             f"docker://{registry.host}/{ref.split('/', 1)[1].split(':')[0]}@{event['digest']}"],
            check=True, capture_output=True, text=True).stdout)  # fmt: skip
        expected = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
        assert event["size"] == expected, platform
