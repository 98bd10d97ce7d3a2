"""`multiarch executor` as a CI job runs it: real registry, real RUN, checked with skopeo
and umoci."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.registry import RegistryHandle, unique_repo


def executor(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "executor", *args],
        capture_output=True, text=True, env=env,
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
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--config", f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def write_context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    context = tmp_path / "context"
    context.mkdir()
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
    result = executor("--context", str(context), "--destination", ref,
                      "--insecure-registry", registry.host, "--custom-platform", f"linux/{arch}")
    assert "RUN echo hello" in result.stderr and "DONE" in result.stderr
    config = inspect_config(ref)
    assert config["architecture"] == arch and config["os"] == "linux"
    assert config["config"]["Cmd"] == ["cat", "/hello"]
    assert config["history"][-2]["created_by"] == "RUN /bin/sh -c echo hello > /hello && uname -m > /arch # buildkit"
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "hello").read_text() == "hello\n"
    assert (rootfs / "arch").read_text() == uname + "\n"
    assert not (rootfs / "etc/resolv.conf").exists()
