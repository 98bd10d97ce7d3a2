"""The main job: a real 2-platform build with RUN steps, checked by independent tools.

    python -m multiarch.demo [--registry] [--workdir DIR]

1. Builds a busybox base image for linux/amd64 + linux/arm64 from Debian's busybox-static
   packages (no public registry is needed), with multiarch itself, into `oci:WORKDIR/base`.
2. Builds examples/demo (RUN steps on both platforms, arm64 under QEMU) with
   `multiarch build --platform linux/amd64,linux/arm64`, into the embedded default, an OCI
   layout on disk (`oci:WORKDIR/image:demo`), or with `--registry` into a docker-registry
   that this command starts on 127.0.0.1 and stops at the end.
3. Checks the result with skopeo and umoci, then runs each platform's entrypoint in a chroot
   of the unpacked image: arm64 prints aarch64.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click

from multiarch.demo.busybox import ARCHES, PLATFORMS, build_base
from multiarch.demo.commands import run, run_multiarch
from multiarch.demo.registry import LocalRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "demo"


def check_layout(layout: Path, tag: str, scratch: Path) -> None:
    run("skopeo", "inspect", "--raw", f"oci:{layout}:{tag}")
    for arch in ARCHES:
        single = scratch / f"single-{arch}"
        run_multiarch("copy", "--platform", f"linux/{arch}", f"oci:{layout}:{tag}", f"oci:{single}:{arch}")
        bundle = scratch / f"bundle-{arch}"
        run("umoci", "unpack", "--image", f"{single}:{arch}", str(bundle), capture=True)
        config = json.loads(run("skopeo", "inspect", "--config", f"oci:{single}:{arch}", capture=True))
        image = config["config"]
        # Run the image as a runtime would: its Env, WorkingDir and Cmd, nothing from the host.
        output = run("chroot", str(bundle / "rootfs"), "/usr/bin/env", "-i", *image["Env"],
                      "/bin/sh", "-c", f'cd {image["WorkingDir"]} && exec "$@"', "sh", *image["Cmd"],
                      capture=True)
        click.secho(f"linux/{arch} image says: {output.strip()}", fg="green", err=True)
        expected = {"amd64": "x86_64", "arm64": "aarch64"}[arch]
        if f"hello from {expected}" not in output:
            raise SystemExit(f"demo failed: linux/{arch} image ran on {output.strip()!r}")


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=REPO_ROOT / ".demo",
              show_default=True, help="Where the base image, the result and the checks go.")
@click.option("--registry", is_flag=True,
              help="Push to a docker-registry started on 127.0.0.1 instead of an OCI layout.")
def main(workdir: Path, registry: bool) -> None:
    """Build examples/demo for linux/amd64 and linux/arm64 and check the result."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    base = build_base(workdir)
    build = ["build", "--progress", "plain", "--platform", PLATFORMS, "--build-arg", f"BASE={base}"]
    with tempfile.TemporaryDirectory(prefix="multiarch-demo-") as tmp:
        scratch = Path(tmp)
        layout = workdir / "image"
        shutil.rmtree(layout, ignore_errors=True)
        if registry:
            with LocalRegistry(scratch / "registry") as reg:
                ref = f"{reg.host}/demo/hello:latest"
                # a loopback registry: plain HTTP without --insecure-registry, as with docker
                run_multiarch(*build, "-t", ref, str(EXAMPLE))
                run("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}")
                run("skopeo", "inspect", "--tls-verify=false", "--override-arch", "arm64",
                    "--config", f"docker://{ref}")
                run_multiarch("copy", "--all", ref, f"oci:{layout}:demo")
        else:
            run_multiarch(*build, "-o", f"oci:{layout}:demo", str(EXAMPLE))
        check_layout(layout, "demo", scratch)
    click.secho(f"demo ok: multi-arch image in oci:{layout}:demo", fg="green", bold=True, err=True)


if __name__ == "__main__":
    main()
