"""`multiarch build`: only its flags are declared here, so `multiarch build --help` stays cheap
(no pydantic, httpx or builder); `multiarch.coordinator` does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from builder import Isolation
from multiarch.build_flags import DEFAULT_JOBS, BuildFlags


@click.command("build")
@click.argument("spec_or_context", required=False)
@click.option(
    "--platform",
    "platforms",
    help="Flag form: comma-separated platforms, e.g. linux/amd64,linux/arm64.",
)
@click.option(
    "-t", "--tag", "tags", multiple=True, help="Flag form: REG/IMG:TAG to push (repeatable)."
)
@click.option(
    "-f", "--file", "dockerfile", help="Flag form: the Dockerfile (default CONTEXT/Dockerfile)."
)
@click.option("--build-arg", "build_args", multiple=True, help="Flag form: KEY=VALUE (repeatable).")
@click.option("--target", help="Flag form: the stage to build.")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    help="Also write to: REG/IMG[:TAG], oci:DIR[:TAG], docker-archive:FILE (repeatable).",
)
@click.option(
    "--type",
    "index_type",
    type=click.Choice(["oci", "docker"]),
    default=None,
    help="Index media type (default: the spec's, else oci).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=DEFAULT_JOBS,
    show_default=True,
    help="Platforms built at once.",
)
@click.option(
    "--ignore-missing", is_flag=True, help="Publish the platforms that succeeded when some fail."
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow plain HTTP and unverified TLS for the registries the build pushes to.",
)
@click.option(
    "--insecure-registry",
    multiple=True,
    help="Allow plain HTTP and unverified TLS for this host[:port] (repeatable).",
)
@click.option(
    "--registry-certificate",
    multiple=True,
    metavar="HOST=PATH",
    help="Extra CA file for a registry.",
)
@click.option(
    "--isolation",
    type=click.Choice([mode.value for mode in Isolation]),
    help="RUN isolation (container-root: platforms one after another).",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "plain", "tty", "json", "quiet"]),
    default="auto",
    show_default=True,
    help="Platforms and steps on stderr; json: one event per line.",
)
@click.option(
    "--metadata-file",
    type=click.Path(path_type=Path),
    help="Write a JSON summary (like buildx).",
)
@click.option(
    "--dotenv",
    type=click.Path(path_type=Path),
    help="Write IMAGE_DIGEST=... for GitLab's dotenv reports.",
)
@click.option(
    "--provenance",
    is_flag=False,
    flag_value="mode=min",
    default=None,
    metavar="[true|false|mode=min|mode=max]",
    help="SLSA provenance on each platform image (default: mode=min for registry pushes).",
)
@click.option(
    "--attest-format",
    type=click.Choice(["oci", "buildkit"]),
    default=None,
    help="oci: OCI referrers (default); buildkit: attestation manifests in the index.",
)
@click.option(
    "--sign-key",
    metavar="PATH|env://NAME",
    help="Sign each platform's attestations with this PEM key (default: "
    "env://MULTIARCH_SIGN_KEY when set).",
)
def build(**flags: Any) -> None:
    """Build a multi-arch image from SPEC.yaml, or from flags and a CONTEXT directory
    (`multiarch build --platform linux/amd64,linux/arm64 -t REG/IMG:TAG .`)."""
    # The coordinator (the builder, its models and registry client): imported when it runs.
    from multiarch import coordinator

    coordinator.build_command(BuildFlags(**flags))
