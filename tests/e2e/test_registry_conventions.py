"""Registry conventions every other tool follows: a registry on loopback is reached over plain
HTTP without any flag (HTTPS first, never for a bad certificate), and `multiarch build
--insecure` relaxes TLS for the registries it pushes to. Checked with skopeo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fixtures.registry import RegistryHandle, unique_repo

DOCKERFILE = "FROM {base}\nRUN echo built > /built\n"


def multiarch(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    return subprocess.run(
        [sys.executable, "-m", "multiarch.cli", *argv],
        capture_output=True, text=True, cwd=cwd or "/", env=env, timeout=300,
    )  # fmt: skip


def context_dir(tmp_path: Path, base: str) -> Path:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    return context


def skopeo_raw(image: str, *flags: str) -> dict:
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", *flags, f"docker://{image}"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return json.loads(out.stdout)


def ca_dir(handle: RegistryHandle, tmp_path: Path) -> str:
    """A --cert-dir for skopeo holding only the test CA."""
    assert handle.ca_file is not None
    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(handle.ca_file, certs / "ca.crt")
    return f"--cert-dir={certs}"


def one_error_line(done: subprocess.CompletedProcess[str], text: str) -> None:
    assert done.returncode == 1, done.stderr
    assert text in done.stderr
    assert "Traceback" not in done.stderr


def test_executor_pushes_to_localhost_registry_without_a_flag(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    # The base comes from 127.0.0.1:PORT, the image goes to localhost:PORT: no flag for either.
    image = f"{registry.host.replace('127.0.0.1', 'localhost')}/{unique_repo('loop')}:v1"
    done = multiarch(
        "executor", "--context", str(context_dir(tmp_path, busybox_image)), "--destination", image
    )
    assert done.returncode == 0, done.stderr
    assert skopeo_raw(image, "--tls-verify=false")["layers"]


def test_tls_registry_on_loopback_is_still_verified(
    tmp_path: Path, registry: RegistryHandle, tls_registry: RegistryHandle, busybox_image: str,
    busybox_layout: Path,
) -> None:  # fmt: skip
    """An untrusted certificate is an error, never a reason to try plain HTTP."""
    image = tls_registry.image(unique_repo("loop"), "v1")
    not_trusted = f"TLS certificate of {tls_registry.host} is not trusted"
    built = multiarch(
        "executor", "--context", str(context_dir(tmp_path, busybox_image)), "--destination", image
    )
    one_error_line(built, not_trusted)
    copied = multiarch("copy", "--all", f"oci:{busybox_layout}:latest", f"docker://{image}")
    one_error_line(copied, not_trusted)
    inspected = multiarch("manifest", "inspect", image)
    one_error_line(inspected, not_trusted)


def test_build_insecure_relaxes_the_registries_it_pushes_to(
    tmp_path: Path, tls_registry: RegistryHandle, busybox_image: str
) -> None:
    context_dir(tmp_path, busybox_image)
    image = f"{tls_registry.host}/{unique_repo('insecure')}"
    spec = tmp_path / "build.yaml"
    spec.write_text(f"image: {image}\ntags: [v1]\ncontext: app\nplatforms: [linux/amd64]\n")

    refused = multiarch("build", str(spec), "--progress", "plain")
    one_error_line(refused, f"TLS certificate of {tls_registry.host} is not trusted")

    done = multiarch("build", str(spec), "--insecure", "--progress", "plain")
    assert done.returncode == 0, done.stderr
    index = skopeo_raw(f"{image}:v1", ca_dir(tls_registry, tmp_path))
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64"]
