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
    "--registry-client-cert",
    multiple=True,
    metavar="HOST=CERT,KEY",
    help="Client certificate for a registry that asks for one (mutual TLS; repeatable).",
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
    "--sbom",
    is_flag=False,
    flag_value="true",
    default=None,
    metavar="[true|false]",
    help="An SBOM of each platform image (SPDX 2.3 unless --sbom-format cyclonedx).",
)
@click.option("--sbom-format", type=click.Choice(["spdx", "cyclonedx"]), default=None)
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
@click.option("--secret", "secrets", multiple=True, metavar="id=ID,src=PATH|env=VAR",
              help="A secret for RUN --mount=type=secret (repeatable).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Image label (repeatable).")
@click.option("--annotation", "annotations", multiple=True,
              metavar="[LEVEL[PLATFORM]:]KEY=VALUE",
              help="Annotation (repeatable): on each image manifest, or index:, manifest:, "
              "manifest[linux/arm64]:, manifest-descriptor: as buildx.")
@click.option("--cache-from", multiple=True, metavar="type=registry,ref=REF",
              help="Layer cache repository to read.")
@click.option("--cache-to", multiple=True, metavar="type=registry,ref=REF[,mode=max]",
              help="Layer cache repository to write (the --cache-from one, if given); "
              "every step is recorded (mode=max).")
@click.option("--no-cache", is_flag=True,
              help="Look nothing up in the cache; steps still go to it.")
@click.option("--pull", is_flag=True,
              help="Always resolve base images at their registry (what every build does).")
@click.option("--network", type=click.Choice(["default", "host", "none"]),
              help="Network of RUN steps (none: --isolation namespace).")
@click.option("--add-host", "add_hosts", multiple=True, metavar="HOST:IP",
              help="Extra /etc/hosts line in RUN steps (repeatable).")
@click.option("--build-context", "build_contexts", multiple=True,
              metavar="NAME=DIR|docker-image://REF",
              help="A named context for FROM NAME / COPY --from=NAME (repeatable).")
@click.option("--iidfile", type=click.Path(path_type=Path), help="Write the index digest here.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the index digest.")
@click.option("--call", type=click.Choice(["build", "check"]), default="build",
              help="check: parse and plan every platform, print its outline, build nothing.")
@click.option("--check", is_flag=True, help="Shorthand for --call check.")
@click.option("--push", is_flag=True,
              help="Accepted for buildx users: the -t tags are always pushed.")
@click.option("--load", is_flag=True, hidden=True)
@click.option("--ssh", multiple=True, hidden=True)
@click.option("--builder", hidden=True)
@click.option("--allow", multiple=True, hidden=True)
def build(**flags: Any) -> None:
    """Build a multi-arch image from SPEC.yaml, or from flags and a CONTEXT directory
    (`multiarch build --platform linux/amd64,linux/arm64 -t REG/IMG:TAG .`)."""
    # The coordinator (the builder, its models and registry client): imported when it runs.
    from multiarch import coordinator

    coordinator.build_command(BuildFlags(**flags))
