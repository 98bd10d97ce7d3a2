"""`./tasks image`: multiarch's own image, built by multiarch itself.

    python -m multiarch.selfimage [--base REF] [--output DIR] [--context DIR]

1. Assembles the builder bundle for linux/amd64 and linux/arm64 (multiarch/selfimage/bundle.py)
   into CONTEXT/.image-build/bundle-ARCH/, from Debian packages and PyPI wheels. The context
   is the checkout unless --context names another directory (the tests use a temporary one).
2. Without --base, builds the debug target's base — busybox from Debian packages, as the demo
   does — so no public image registry is needed.
3. Builds the repository's Dockerfile, targets `release` and `debug`, for both platforms with
   `multiarch build` into the OCI layout DIR (default .image/), tags `release` and `debug`,
   each an index of both platforms.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from multiarch.demo.busybox import ARCHES, PLATFORMS, build_base
from multiarch.demo.commands import run_multiarch
from multiarch.selfimage.bundle import build_bundle

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("release", "debug")


def build_image(layout: Path, base: str | None, context: Path = REPO_ROOT) -> None:
    """Both targets of the Dockerfile for both ARCHES into the OCI layout `layout`."""
    workdir = context / ".image-build"  # where the Dockerfile's COPY finds the bundles
    for arch in ARCHES:
        click.secho(f"assembling the builder bundle for linux/{arch}", fg="cyan", err=True)
        build_bundle(arch, REPO_ROOT, workdir / f"bundle-{arch}")
    base = base or build_base(workdir, what="image")
    shutil.rmtree(layout, ignore_errors=True)
    for target in TARGETS:
        run_multiarch("build", "--progress", "plain", "--platform", PLATFORMS,
                      "-f", str(REPO_ROOT / "Dockerfile"), "--target", target,
                      "--build-arg", f"BASE={base}", "-o", f"oci:{layout}:{target}",
                      str(context), what="image")  # fmt: skip


@click.command()
@click.option("--base", metavar="REF",
              help="The debug target's base image (default: busybox from Debian packages).")
@click.option("--output", type=click.Path(path_type=Path), default=REPO_ROOT / ".image",
              show_default=True, help="The OCI layout to write (tags release and debug).")
@click.option("--context", type=click.Path(path_type=Path, file_okay=False), default=REPO_ROOT,
              show_default=True, help="The build context; the bundles go to its .image-build/.")
def main(base: str | None, output: Path, context: Path) -> None:
    """Build multiarch's own image for linux/amd64 and linux/arm64 with multiarch."""
    layout = output.resolve()
    build_image(layout, base, context.resolve())
    click.secho(f"image ok: oci:{layout}:release and oci:{layout}:debug", fg="green", bold=True,
                err=True)  # fmt: skip
    click.echo("push it with:")
    for target in TARGETS:
        click.echo(f"  multiarch copy --all oci:{layout}:{target} docker://REGISTRY/IMAGE:{target}")


if __name__ == "__main__":
    main()
