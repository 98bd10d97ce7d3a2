"""`multiarch copy SRC DST`: copy an image or index between registries, OCI layouts and
docker archives, with skopeo's names (docker://REF, oci:DIR[:TAG], docker-archive:FILE[:REF])."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from builder.errors import UsageError
from builder.log import register_secret

if TYPE_CHECKING:
    from builder.registry.options import Credential

F = TypeVar("F", bound=Callable[..., None])


def _credential(value: str | None, flag: str) -> Credential | None:
    from builder.registry.options import Credential

    if value is None:
        return None
    user, colon, password = value.partition(":")
    if not user or not colon:
        raise UsageError(f"{flag} must be USERNAME:PASSWORD")
    register_secret(password)
    return Credential(username=user, password=password, source=flag)


def _tls_verify(name: str, help_text: str) -> Callable[[F], F]:
    """skopeo's `--X-tls-verify[=BOOL]`: on by default, `=false` relaxes it."""
    return click.option(
        name, type=click.BOOL, default=True, is_flag=False, flag_value=True, help=help_text
    )


@click.command("copy")
@click.argument("source")
@click.argument("destination")
@click.option("--all", "all_platforms", is_flag=True, help="Copy a whole index, every platform.")
@click.option(
    "--platform", help="From an index, copy this platform's image (default: this host's)."
)
@click.option(
    "--insecure", is_flag=True, help="Allow plain HTTP and unverified TLS for both registries."
)
@_tls_verify(
    "--src-tls-verify",
    "=false allows plain HTTP and unverified TLS for the source registry (as skopeo).",
)
@_tls_verify(
    "--dest-tls-verify",
    "=false allows plain HTTP and unverified TLS for the destination registry.",
)
@click.option("--src-creds", metavar="USER:PASS", help="Login for the source registry.")
@click.option("--dest-creds", metavar="USER:PASS", help="Login for the destination registry.")
@click.option(
    "--authfile",
    "--docker-cfg",
    "authfile",
    type=click.Path(path_type=Path),
    help="Docker config.json with logins.",
)
@click.option(
    "--registry-certificate",
    multiple=True,
    metavar="HOST=PATH",
    help="Extra CA file for a registry.",
)
@click.option(
    "--digest-file",
    type=click.Path(path_type=Path),
    help="Write the copied image's digest here.",
)
def copy(
    source: str,
    destination: str,
    all_platforms: bool,
    platform: str | None,
    insecure: bool,
    src_tls_verify: bool,
    dest_tls_verify: bool,
    src_creds: str | None,
    dest_creds: str | None,
    authfile: Path | None,
    registry_certificate: tuple[str, ...],
    digest_file: Path | None,
) -> None:
    """Copy SOURCE to DESTINATION, moving only the blobs the destination lacks."""
    from builder.oci.platform import parse_platform
    from builder.registry.options import RegistryOptions, parse_ca_files
    from builder.transports import (
        TransportContext,
        copy_image,
        open_destination,
        open_source,
        parse_location,
    )

    if all_platforms and platform:
        raise UsageError("--all and --platform exclude each other")
    wanted = parse_platform(platform) if platform else None
    src, dst = parse_location(source), parse_location(destination)
    relaxed: set[str] = set()
    credentials: dict[str, Credential] = {}
    sides = (
        (src, src_tls_verify, src_creds, "--src-creds"),
        (dst, dest_tls_verify, dest_creds, "--dest-creds"),
    )
    for location, verify, creds, flag in sides:
        if location.kind != "docker" or location.reference is None:
            continue
        if insecure or not verify:
            relaxed.add(location.reference.registry)
        if cred := _credential(creds, flag):
            credentials[location.reference.registry] = cred
    options = RegistryOptions(
        insecure=frozenset(relaxed),
        skip_verify=frozenset(relaxed),
        ca_files=parse_ca_files(registry_certificate),
        docker_config=authfile,
        credentials=credentials,
    )
    ctx = TransportContext(registry_options=options)
    image_source = image_destination = None
    try:
        image_source = open_source(src, ctx)
        image_destination = open_destination(dst, ctx)
        result = copy_image(
            image_source, image_destination, platform=wanted, all_platforms=all_platforms
        )
    finally:
        for opened in (image_source, image_destination):
            if opened is not None:
                opened.close()
        ctx.close()
    if digest_file is not None:
        digest_file.write_text(result.descriptor.digest)
    click.echo(
        f"{result.descriptor.digest} {dst}: {result.copied} blobs copied "
        f"({result.bytes_copied} bytes), {result.mounted} mounted, {result.skipped} already there"
    )
