"""`multiarch executor` as a CI job runs it: real registry, real RUN, checked with skopeo
and umoci."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.registry import RegistryHandle, unique_repo


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test builds with its own store, so cache mounts and layers start empty."""
    store = tmp_path / "store"
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(store))
    return store


def executor(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "executor", *args],
        capture_output=True, text=True, env=env, cwd="/",  # kaniko reads ./Dockerfile first
    )
    if check and done.returncode != 0:
        raise AssertionError(f"executor failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def unpack(registry: RegistryHandle, ref: str, dest: Path) -> Path:
    """skopeo copies the pushed image to a layout, umoci unpacks it: independent clients."""
    dest.mkdir(parents=True, exist_ok=True)
    layout = dest / "layout"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                    f"oci:{layout}:img"], check=True, capture_output=True)
    bundle = dest / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:img", str(bundle)], check=True,
                   capture_output=True)
    return bundle / "rootfs"


def inspect_config(ref: str) -> dict:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--config", "--raw", f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def write_context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    context = tmp_path / "context"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        path = context / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return context


@pytest.mark.parametrize("arch,uname", [("amd64", "x86_64"), ("arm64", "aarch64")])
def test_run_step_pushes_image_for_platform(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, arch: str, uname: str
) -> None:
    context = write_context(tmp_path, f"""
FROM {busybox_image}
RUN echo hello > /hello && uname -m > /arch
CMD ["cat", "/hello"]
""")
    ref = f"{registry.host}/{unique_repo('exec')}:v1"
    # No --insecure-registry: the registry is on loopback, reached over plain HTTP by default.
    result = executor("--context", str(context), "--destination", ref,
                      "--custom-platform", f"linux/{arch}")
    assert "RUN echo hello" in result.stderr and "DONE" in result.stderr
    assert "1 mounted from base images" in result.stderr  # the base layer is never re-uploaded
    config = inspect_config(ref)
    assert config["architecture"] == arch and config["os"] == "linux"
    assert config["config"]["Cmd"] == ["cat", "/hello"]
    assert config["history"][-2]["created_by"] == "RUN /bin/sh -c echo hello > /hello && uname -m > /arch # buildkit"
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "hello").read_text() == "hello\n"
    assert (rootfs / "arch").read_text() == uname + "\n"
    assert not (rootfs / "etc/resolv.conf").exists()



ALL_INSTRUCTIONS = """\
# syntax=docker/dockerfile:1
ARG BASE
FROM ${BASE} AS build
ARG GREETING=hello
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY src/ ./src/
RUN echo "$GREETING from $(uname -m)" > greeting.txt && cat src/main.sh > built.sh && chmod +x built.sh
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /app/token-length
RUN --mount=type=cache,target=/cache echo cached >> /cache/log && cp /cache/log /app/cache-log
RUN --mount=type=tmpfs,target=/scratch touch /scratch/gone
RUN --mount=type=bind,source=src,target=/mnt/src cp /mnt/src/main.sh /app/bound.sh

FROM ${BASE}
LABEL org.example.name="demo app" org.example.stage=final
MAINTAINER someone@example.com
COPY --chown=builder:users --chmod=0640 config.txt /etc/app/config.txt
COPY --from=build /app/ /app/
COPY <<EOF /app/inline.txt
inline $HOSTNAME
EOF
ADD archive.tar.gz /opt/
ADD data.txt /opt/data.txt
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER builder
WORKDIR /home/builder/work
SHELL ["/bin/sh", "-e", "-c"]
RUN id -u > uid && id -g > gid && pwd > cwd
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD ["/app/built.sh"]
ONBUILD RUN echo child
ENTRYPOINT ["/app/built.sh"]
CMD ["--flag"]
"""


def make_tar_gz(path: Path, files: dict[str, str]) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def test_every_instruction(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    secret = "s3cr3t-" + "x" * 20
    context = write_context(tmp_path, ALL_INSTRUCTIONS, {
        "src/main.sh": "#!/bin/sh\necho main \"$@\"\n",
        "config.txt": "key=value\n",
        "data.txt": "data\n",
        "ignored.txt": "never copied\n",
        "src/debug.log": "never copied\n",
        "src/keep.log": "re-included\n",
        ".dockerignore": "ignored.txt\n**/*.log\n!src/keep.log\n",
    })
    make_tar_gz(context / "archive.tar.gz", {"pkg/readme": "from archive\n"})
    (tmp_path / "token").write_text(secret)
    ref = f"{registry.host}/{unique_repo('exec')}:all"
    metadata = tmp_path / "meta.json"
    digest_file = tmp_path / "digest"
    result = executor("--context", str(context), "--destination", ref, "--insecure-registry",
                      registry.host, "--build-arg", f"BASE={busybox_image}",
                      "--secret", f"id=token,src={tmp_path / 'token'}",
                      "--label", "extra=yes", "--metadata-file", str(metadata),
                      "--digest-file", str(digest_file))
    config = inspect_config(ref)
    c = config["config"]
    assert c["Entrypoint"] == ["/app/built.sh"] and c["Cmd"] == ["--flag"]
    assert c["User"] == "builder" and c["WorkingDir"] == "/home/builder/work"
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert c["Volumes"] == {"/data": {}}
    assert c["Labels"] == {"org.example.name": "demo app", "org.example.stage": "final", "extra": "yes"}
    assert c["StopSignal"] == "SIGTERM"
    assert c["Healthcheck"] == {"Test": ["CMD", "/app/built.sh"], "Interval": 30_000_000_000,
                                "Timeout": 5_000_000_000}
    assert c["OnBuild"] == ["RUN echo child"]
    assert c["Shell"] == ["/bin/sh", "-e", "-c"]
    assert config["author"] == "someone@example.com"
    history = [h["created_by"] for h in config["history"]]
    assert "RUN /bin/sh -e -c id -u > uid && id -g > gid && pwd > cwd # buildkit" in history
    assert "COPY /app/ /app/ # buildkit" in history
    assert 'CMD ["--flag"]' in history and "EXPOSE [8080/tcp 53/udp]" in history
    assert len(config["rootfs"]["diff_ids"]) == sum(not h.get("empty_layer") for h in config["history"])

    rootfs = unpack(registry, ref, tmp_path / "out")
    app = rootfs / "app"
    assert (app / "greeting.txt").read_text() == "hello from x86_64\n"
    assert (app / "token-length").read_text().strip() == str(len(secret))
    assert (app / "cache-log").read_text() == "cached\n"
    assert (app / "bound.sh").read_text() == (context / "src/main.sh").read_text()
    assert (app / "inline.txt").read_text() == "inline \n"
    assert (rootfs / "opt/pkg/readme").read_text() == "from archive\n"
    assert (rootfs / "opt/data.txt").read_text() == "data\n"
    config_file = rootfs / "etc/app/config.txt"
    assert (config_file.stat().st_uid, config_file.stat().st_gid, config_file.stat().st_mode & 0o777) == (1000, 100, 0o640)
    assert not (rootfs / "scratch/gone").exists()
    assert not (rootfs / "run/secrets/token").exists()
    work = rootfs / "home/builder/work"
    assert [(work / n).read_text().strip() for n in ("uid", "gid", "cwd")] == ["1000", "1000", "/home/builder/work"]
    assert (work.stat().st_uid, work.stat().st_gid) == (1000, 1000)
    assert not any("ignored" in p.name for p in rootfs.rglob("*"))
    assert not (app / "src/debug.log").exists() and (app / "src/keep.log").exists()

    meta = json.loads(metadata.read_text())
    assert meta["manifest"]["digest"] == digest_file.read_text()
    build_steps = [s["instruction"].split()[0] for s in meta["steps"] if s["stage"] == "build"]
    assert build_steps[:3] == ["FROM", "WORKDIR", "COPY"]
    assert all(not s["cached"] for s in meta["steps"])

    # The secret is nowhere: not in a layer, the config, the history or the log.
    assert secret not in result.stdout + result.stderr
    assert secret not in json.dumps(config)
    for blob in (tmp_path / "out/layout/blobs/sha256").iterdir():
        data = blob.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        assert secret.encode() not in data
