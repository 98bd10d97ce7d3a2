"""Build one Dockerfile with buildah (Debian's: vfs storage, chroot isolation, `--format docker`
so SHELL, HEALTHCHECK and ONBUILD survive) and with multiarch, and flatten both images."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from builder.events import discard
from builder.executor.run import run_executor
from builder.options import ExecutorOptions
from tests.differential.flatten import FlatImage, flatten_layout

# The config fields a user sees (docker inspect); each compared as a whole.
CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
                 "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild")


class Buildah:
    """One vfs storage for the whole session: the base image is pulled once."""

    def __init__(self, workdir: Path, registry_host: str) -> None:
        self._storage = ["--root", str(workdir / "root"), "--runroot", str(workdir / "run"),
                         "--storage-driver", "vfs"]
        self._registry = registry_host

    def build(self, context: Path, dockerfile: Path, platform: str, out: Path,
              args: tuple[str, ...] = ()) -> FlatImage:
        tag = f"localhost/diff-{out.parent.name}"
        self._run("build", "--quiet", "--isolation", "chroot", "--format", "docker",
                  "--tls-verify=false", "--platform", platform, "-f", str(dockerfile),
                  *args, "-t", tag, str(context))
        self._run("push", "--quiet", tag, f"oci:{out}:img")
        inspected = json.loads(self._run("inspect", "--type", "image", tag))
        self._run("rmi", tag)
        flat = flatten_layout(out)
        flat.config = inspected["Docker"]  # its OCI push drops the Docker-only fields
        return flat

    def _run(self, *argv: str) -> str:
        done = subprocess.run(["buildah", *self._storage, *argv], capture_output=True, text=True)
        if done.returncode:
            raise AssertionError(f"buildah {argv[0]} failed: {done.stderr[-2000:]}")
        return done.stdout


def build_ours(context: Path, dockerfile: Path, platform: str, out: Path, store: Path,
               registry_host: str, build_args: dict[str, str] | None = None,
               target: str | None = None) -> FlatImage:
    run_executor(ExecutorOptions(context=str(context), dockerfile=str(dockerfile), no_push=True,
                                 oci_layout_path=str(out), destinations=("example.com/x:img",),
                                 custom_platform=platform, cache_dir=str(store),
                                 build_args=build_args or {}, target=target,
                                 insecure_registries=(registry_host,)), discard)
    return flatten_layout(out, platform)


def config_fields(config: dict[str, Any]) -> dict[str, Any]:
    inner = config.get("config") or {}
    return {name: inner.get(name) or None for name in CONFIG_FIELDS}
