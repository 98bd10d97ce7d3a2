"""More ways in: ADD from a URL (with --checksum), secrets from the environment, heredoc
scripts, and GitLab's kaniko seed job against a registry that needs a login."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_executor import executor, inspect_config, own_store, unpack, write_context  # noqa: F401
from tests.fixtures.registry import RegistryHandle, unique_repo


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for files in a temp dir; yields (base URL, dir)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_add_url_with_checksum_is_not_extracted(tmp_path: Path, busybox_layout: Path,
                                                file_server: tuple[str, Path]) -> None:
    url, served = file_server
    payload = b"\x1f\x8b not really an archive, and never extracted"
    (served / "blob.tar.gz").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    context = write_context(tmp_path, f"FROM oci:{busybox_layout}:latest\n"
                                      f"ADD --checksum=sha256:{digest} {url}/blob.tar.gz /dl/\n")
    layout = tmp_path / "out"
    executor("--context", str(context), "--no-push", "--oci-layout-path", str(layout))
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(tmp_path / "b")],
                   check=True, capture_output=True)
    got = tmp_path / "b/rootfs/dl/blob.tar.gz"
    assert got.read_bytes() == payload and got.stat().st_mode & 0o777 == 0o600

    bad = write_context(tmp_path / "bad", f"FROM oci:{busybox_layout}:latest\n"
                                          f"ADD --checksum=sha256:{'0' * 64} {url}/blob.tar.gz /dl/\n")
    done = executor("--context", str(bad), "--no-push", check=False)
    assert done.returncode == 1 and "digest mismatch" in done.stderr


def test_secret_from_env_and_heredoc_script(tmp_path: Path, busybox_layout: Path) -> None:
    secret = "env-secret-" + "y" * 16
    dockerfile = (
        f"FROM oci:{busybox_layout}:latest\n"
        "RUN --mount=type=secret,id=api,env=API_TOKEN echo ${#API_TOKEN} > /len\n"
        "RUN <<EOT\n#!/bin/sh\necho \"script ran as $(id -u)\" > /script-out\nEOT\n"
    )
    context = write_context(tmp_path, dockerfile)
    layout = tmp_path / "out"
    done = executor("--context", str(context), "--no-push", "--oci-layout-path", str(layout),
                    "--secret", "id=api,env=MY_SECRET", env={**os.environ, "MY_SECRET": secret})
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(tmp_path / "b")],
                   check=True, capture_output=True)
    rootfs = tmp_path / "b/rootfs"
    assert (rootfs / "len").read_text().strip() == str(len(secret))
    assert (rootfs / "script-out").read_text() == "script ran as 0\n"
    assert secret not in done.stderr + done.stdout
    config = (layout / "index.json").read_text()
    assert secret not in config


def test_gitlab_seed_job_with_docker_config(tmp_path: Path, basic_registry: RegistryHandle,
                                            busybox_layout: Path) -> None:
    """GitLab's documented kaniko job, word for word but the executable: login from
    DOCKER_CONFIG/config.json, --build-arg http_proxy passed through and kept out of history."""
    project = tmp_path / "project"
    write_context(tmp_path, "")  # creates tmp_path/context (unused)
    project.mkdir()
    (project / "Dockerfile").write_text(
        f"FROM oci:{busybox_layout}:latest\nRUN echo \"proxy=$http_proxy\" > /proxy\n"
    )
    auth = base64.b64encode(f"{basic_registry.username}:{basic_registry.password}".encode()).decode()
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text(json.dumps({"auths": {basic_registry.host: {"auth": auth}}}))
    ref = f"{basic_registry.host}/{unique_repo('gitlab')}:v1.0.0"
    env = {**os.environ, "DOCKER_CONFIG": str(docker_dir), "CI_PROJECT_DIR": str(project)}
    done = executor("--context", str(project), "--dockerfile", str(project / "Dockerfile"),
                    "--destination", ref, "--insecure-registry", basic_registry.host,
                    "--build-arg", "http_proxy=http://proxy.invalid:3128", env=env)
    assert basic_registry.password not in done.stderr
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--config", "--raw",
                          "--creds", f"{basic_registry.username}:{basic_registry.password}",
                          f"docker://{ref}"], check=True, capture_output=True, text=True).stdout
    history = [h["created_by"] for h in json.loads(out)["history"]]
    assert 'RUN /bin/sh -c echo "proxy=$http_proxy" > /proxy # buildkit' in history
    assert not any("proxy.invalid" in h for h in history)


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`git daemon` on loopback serving bare repositories under a temp dir."""
    import socket

    from tests.fixtures.registry import free_port
    from tests.fixtures.waiting import wait_for

    base = tmp_path / "git"
    base.mkdir()
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
                             "--listen=127.0.0.1", f"--port={port}", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    try:
        wait_for(listening, timeout=10, what="git daemon")
        yield f"git://127.0.0.1:{port}", base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_git_context_with_ref_and_subdir_and_json_result(tmp_path: Path, busybox_layout: Path,
                                                         git_daemon: tuple[str, Path]) -> None:
    url, base = git_daemon
    work = tmp_path / "work"
    (work / "app").mkdir(parents=True)
    (work / "app/Dockerfile").write_text(f"FROM oci:{busybox_layout}:latest\nCOPY msg /msg\n")
    (work / "app/msg").write_text("from git\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    subprocess.run([*git, "branch", "release"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(base / "repo.git")], check=True)
    layout = tmp_path / "out"
    done = executor("--context", f"{url}/repo.git#release:app", "--dockerfile", "Dockerfile",
                    "--no-push", "--oci-layout-path", str(layout), "--json-result", "-")
    result = json.loads(done.stdout)
    assert result["manifest"]["digest"].startswith("sha256:")
    assert [s["instruction"] for s in result["steps"]] == [f"FROM oci:{busybox_layout}:latest", "COPY msg /msg"]
    assert result["platform"]["architecture"] == "amd64"
