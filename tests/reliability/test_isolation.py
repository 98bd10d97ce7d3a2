"""The build cannot reach the builder: a RUN step neither reads nor changes the builder's
credentials (DOCKER_CONFIG), store or state; known escapes fail: WORKDIR /proc/self/fd/N
(runc CVE-2024-21626), a cache mount's source swapped for a symlink (BuildKit
CVE-2024-23651), mount stubs whose removal would delete host files (CVE-2024-23652)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fixtures.registry import RegistryHandle
from tests.reliability.helpers import environ, run_cli, write_context


def build(tmp_path: Path, base: str, registry: RegistryHandle, body: str, env: dict[str, str]):
    context = write_context(tmp_path / "ctx", f"FROM {base}\n{body}")
    return run_cli("executor", "--context", str(context), "--dockerfile", str(context / "Dockerfile"), "--no-push",
                   "--oci-layout-path", str(tmp_path / "out"), "--insecure-registry", registry.host, env=env)


def host_dirs(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {"example.invalid": {"auth": "dXNlcjpob3N0LXNlY3JldA=="}}}))
    store = tmp_path / "store"
    return docker, store, environ(DOCKER_CONFIG=str(docker), MULTIARCH_CACHE_DIR=str(store))


def test_run_step_cannot_read_or_change_builder_state(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    docker, store, env = host_dirs(tmp_path)
    before = (docker / "config.json").read_text()
    probes = " ; ".join(
        f"(cat {p}/config.json {p}/* 2>/dev/null | grep -q . && echo LE''AK {p}) ; "
        f"(mkdir -p {p} 2>/dev/null && echo pwned > {p}/config.json 2>/dev/null) ; true"
        for p in (docker, store, store / "blobs", "/kaniko/.docker", "/root/.docker")
    )
    done = build(tmp_path, busybox_image, registry,
                 f"RUN {probes}\n", env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LEAK" not in done.stdout + done.stderr
    assert (docker / "config.json").read_text() == before
    assert not (store / "config.json").exists() and not (store / "blobs" / "config.json").exists()


def test_run_step_cannot_read_credentials_through_proc(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    docker, _, env = host_dirs(tmp_path)
    done = build(tmp_path, busybox_image, registry,
                 f"RUN cat /proc/1/root/{docker}/config.json 2>/dev/null && echo LE''AK ; true\n", env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LEAK" not in done.stdout + done.stderr


def test_workdir_proc_self_fd_does_not_reach_the_host(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    marker = tmp_path / "host-marker"
    marker.write_text("host file")
    _, _, env = host_dirs(tmp_path)

    def attempt(fd: int):
        return build(tmp_path / f"fd{fd}", busybox_image, registry,
                     f"WORKDIR /proc/self/fd/{fd}\nRUN cat ../../../../../../..{marker} && echo ESC''APED ; true\n", env)

    with ThreadPoolExecutor(3) as pool:
        for done in pool.map(attempt, range(3, 9)):
            assert "ESCAPED" not in done.stdout + done.stderr, done.stderr[-2000:]
            assert "Traceback" not in done.stderr
    assert marker.read_text() == "host file"


def test_cache_mount_swapped_for_symlink_stays_inside(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    host = tmp_path / "host-dir"
    host.mkdir()
    (host / "precious").write_text("keep")
    _, _, env = host_dirs(tmp_path)
    body = (
        f"RUN --mount=type=cache,id=c,target=/c rm -rf /c/sub && ln -s {host} /c/sub\n"
        f"RUN --mount=type=cache,id=c,target=/x,source=sub (cat /x/precious && echo ESC''APED) ; rm -f /x/precious ; true\n"
    )
    done = build(tmp_path, busybox_image, registry, body, env)
    assert "ESCAPED" not in done.stdout + done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert (host / "precious").read_text() == "keep"


def test_mount_stub_teardown_never_deletes_host_files(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    host = tmp_path / "host-dir"
    (host / "y").mkdir(parents=True)
    (host / "y" / "precious").write_text("keep")
    (host / "z").write_text("keep")
    _, _, env = host_dirs(tmp_path)
    body = (
        "RUN --mount=type=tmpfs,target=/stub/x/y --mount=type=cache,id=s,target=/stub/x/z "
        f"sh -c 'cd / && umount /stub/x/y /stub/x/z 2>/dev/null; rm -rf /stub/x && ln -s {host} /stub/x' ; true\n"
    )
    done = build(tmp_path, busybox_image, registry, body, env)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert (host / "y" / "precious").read_text() == "keep" and (host / "z").read_text() == "keep"
