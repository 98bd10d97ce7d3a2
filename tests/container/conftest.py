"""multiarch inside an unprivileged container, as a GitLab docker/kubernetes runner starts a
job: podman with the default capabilities and seccomp profile, no --privileged, no added
capability, host network (the test registry is on 127.0.0.1).

The container's root is an overlay of this machine's own root (`--rootfs /:O`): the same
Python, this checkout and its venv, skopeo, PRoot and qemu-user-static, without building an
image first; its writes land in the overlay and vanish with it. One container per module;
`container.multiarch(...)` runs the command in it, its build cache in /var/cache/multiarch
(inside the overlay: kept between the module's builds, for the cached rebuilds). Work files
are shared through one host directory mounted at the same path.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.debian import debian_image  # noqa: F401
from tests.fixtures.project_image import PODMAN, RUN
from tests.fixtures.rootfs import rootfs_templates  # noqa: F401
from tests.fixtures.busybox_images import busybox_image, busybox_layout  # noqa: F401

CACHE_DIR = "/var/cache/multiarch"


@dataclass(frozen=True)
class Container:
    name: str
    work: Path

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "MULTIARCH_CACHE_DIR": CACHE_DIR,
        }
        flags = [f"--env={k}={v}" for k, v in env.items()]
        done = subprocess.run([*PODMAN, "exec", *flags, "--workdir", "/", self.name, *argv],
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def multiarch(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.exec("multiarch", *args, check=check)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    work = tmp_path_factory.mktemp("container-work")
    name = f"multiarch-test-{secrets.token_hex(4)}"
    run = [flag for flag in RUN if flag != "--rm"]
    subprocess.run(
        [*PODMAN, *run, "--detach", "--name", name, "--volume", f"{work}:{work}",
         "--rootfs", "/:O", "/bin/sleep", "infinity"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    try:
        yield Container(name, work)
    finally:
        subprocess.run([*PODMAN, "rm", "--force", "--time", "0", name], capture_output=True)


def write_context(parent: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    context = parent / f"context-{secrets.token_hex(4)}"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (context / name).write_text(text)
    os.chmod(context, 0o755)
    return context
