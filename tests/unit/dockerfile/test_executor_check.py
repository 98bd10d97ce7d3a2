"""`multiarch executor --check` as a user runs it, and the executor flag surface."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from builder.cli import executor
from builder.options import Compression, ExecutorOptions, SecretSource

DOCKERFILE = """\
ARG BASE=busybox
FROM --platform=$BUILDPLATFORM ${BASE} AS build
ARG TARGETARCH
RUN echo $TARGETARCH > /arch
FROM build AS unused
RUN false
FROM scratch
COPY --from=build /arch /arch
"""


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "multiarch.cli", "executor", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_check_prints_outline_and_warnings(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    result = run_cli("--check", "--context", str(tmp_path), "--custom-platform", "linux/arm64",
                     "--build-arg", "EXTRA=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 stages, 2 needed" in out and "platform: linux/arm64" in out
    assert "stage 0 'build': FROM busybox [linux/amd64]" in out
    assert "[build 2/2] RUN echo $TARGETARCH > /arch" in out
    assert "unused" not in out
    assert "warning: build-arg not consumed by any stage: EXTRA" in result.stderr


def test_check_finds_dockerfile_inside_context_and_honours_target(tmp_path):
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    result = run_cli("--check", "-c", "dir://ctx", "--target", "UNUSED", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "needed for target 'unused'" in result.stdout


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("FROM busybox\nCOPPY a b\n", (), "Dockerfile:2: unknown instruction 'COPPY'"),
        ("FROM busybox AS a\n", ("--target", "b"), "target stage 'b' could not be found"),
        ("FROM busybox\n", ("--custom-platform", "linux/"), "--custom-platform"),
        ("FROM busybox\n", ("--build-arg", "=x"), "--build-arg"),
        # What a build would reject before pulling anything (builder/executor/preflight.py):
        ("FROM busybox\nCOPY --from=Bad_Name /a /b\n", (),
         'Dockerfile:2: COPY: failed to parse stage name "Bad_Name": invalid reference format'),
        ("FROM busybox\nRUN --mount=from=UP,target=/x true\n", (),
         'Dockerfile:2: RUN: failed to parse stage name "UP": invalid reference format'),
        ("ARG BASE=Busybox\nFROM $BASE\n", (),
         'Dockerfile:2: FROM: failed to parse stage name "Busybox": invalid reference format'),
        ("FROM busybox\nCOPY a b /c\n", (), "Dockerfile:2: COPY: When using COPY with more"),
        ("FROM busybox\nCOPY http://example.com/a /c\n", (),
         "Dockerfile:2: COPY: source can't be a URL for COPY"),
        ("FROM busybox\nADD --checksum=sha256:" + "0" * 64 + " a /c\n", (),
         "Dockerfile:2: ADD: checksum can't be specified for non-HTTP(S) sources"),
        ("FROM busybox\nCOPY --chmod=u+q a /b\n", (),
         "Dockerfile:2: COPY: invalid chmod parameter: 'u+q': invalid syntax"),
        ("FROM busybox\nRUN --security=insecure true\n", (),
         "Dockerfile:2: RUN: RUN --security=insecure is not supported"),
    ],
)
def test_check_errors_exit_non_zero_with_one_line(tmp_path, text, args, message):
    (tmp_path / "Dockerfile").write_text(text)
    result = run_cli("--check", "--context", str(tmp_path), *args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_dockerfile(tmp_path):
    result = run_cli("--check", "--context", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "not found" in result.stderr


def test_every_kaniko_flag_lands_in_options(tmp_path, monkeypatch):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    captured = {}
    monkeypatch.setattr("builder.cli_run.check", lambda options: captured.setdefault("o", options))
    monkeypatch.setenv("FROM_ENV", "env-value")
    args = [
        "--context", str(tmp_path), "-f", "Dockerfile", "-d", "r/a:1", "--destination", "r/a:2",
        "--no-push", "--tar-path", "t.tar", "--oci-layout-path", "oci", "--digest-file", "d",
        "--image-name-with-digest-file", "n", "--image-name-tag-with-digest-file", "nt",
        "--build-arg", "A=1", "--build-arg", "FROM_ENV", "--label", "l=v", "--target", "t",
        "--custom-platform", "linux/arm64", "--reproducible", "--single-snapshot",
        "--snapshot-mode", "redo", "--insecure", "--insecure-registry", "r1",
        "--skip-tls-verify", "--skip-tls-verify-registry", "r2",
        "--registry-certificate", "r3=/ca.pem", "--registry-mirror", "m",
        "--insecure-pull", "--skip-tls-verify-pull", "--push-retry", "3",
        "--compression", "zstd", "--compression-level", "5", "--ignore-path", "/x",
        "--cleanup", "--verbosity", "debug", "--log-format", "json", "--cache=true",
        "--cache-repo", "r/cache", "--cache-dir", "/c", "--cache-ttl", "1h",
        "--cache-run-layers=false", "--cache-copy-layers", "--secret", "id=s,src=/f",
        "--secret", "id=t,env=T", "--isolation", "chroot", "--metadata-file", "m.json",
        "--json-result", "-", "--progress", "plain", "--check",
    ]
    result = CliRunner().invoke(executor, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    options: ExecutorOptions = captured["o"]
    assert options.destinations == ("r/a:1", "r/a:2") and options.no_push
    assert options.build_args == {"A": "1", "FROM_ENV": "env-value"}
    assert options.labels == {"l": "v"} and options.registry_certificates == {"r3": "/ca.pem"}
    assert options.compression is Compression.ZSTD and options.compression_level == 5
    assert options.cache and not options.cache_run_layers and options.cache_copy_layers
    assert options.secrets == (SecretSource(id="s", src="/f"), SecretSource(id="t", env="T"))
    assert options.push_retry == 3 and options.isolation.value == "chroot"
    assert options.snapshot_mode.value == "redo" and options.progress.value == "plain"
    assert options.custom_platform == "linux/arm64" and options.check


def test_unknown_flag_is_a_usage_error():
    result = CliRunner().invoke(executor, ["--no-such-flag"])
    assert result.exit_code == 2 and "No such option" in result.output
