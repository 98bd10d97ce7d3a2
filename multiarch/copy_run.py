"""What `multiarch copy` does (its flags are declared in `multiarch.copy`)."""

from __future__ import annotations

from pathlib import Path

import click

from builder.errors import UsageError
from builder.log import register_secret
from builder.oci.platform import parse_platform
from builder.registry.options import (
    Credential,
    RegistryOptions,
    parse_ca_files,
    parse_client_certs,
)
from builder.transports import (
    TransportContext,
    copy_image,
    open_destination,
    open_source,
    parse_location,
)


def _credential(value: str | None, flag: str) -> Credential | None:
    if value is None:
        return None
    user, colon, password = value.partition(":")
    if not user or not colon:
        raise UsageError(f"{flag} must be USERNAME:PASSWORD")
    register_secret(password)
    return Credential(username=user, password=password, source=flag)


def run_copy(
    source: str,
    destination: str,
    *,
    all_platforms: bool,
    platform: str | None,
    insecure: bool,
    src_tls_verify: bool,
    dest_tls_verify: bool,
    src_creds: str | None,
    dest_creds: str | None,
    authfile: Path | None,
    registry_certificate: tuple[str, ...],
    registry_client_cert: tuple[str, ...],
    digest_file: Path | None,
) -> None:
    """Copy SOURCE to DESTINATION, moving only the blobs the destination lacks."""
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
        client_certs=parse_client_certs(registry_client_cert),
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
