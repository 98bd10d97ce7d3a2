"""`multiarch copy SRC DST`: copy an image or index between registries, OCI layouts and
docker archives, with skopeo's names (docker://REF, oci:DIR[:TAG], docker-archive:FILE[:REF]).

Only the flags are declared here, for a cheap --help; `multiarch.copy_run` does the copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., None])


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
    "--registry-client-cert",
    multiple=True,
    metavar="HOST=CERT,KEY",
    help="Client certificate and key for a registry that asks for one (mutual TLS).",
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
    registry_client_cert: tuple[str, ...],
    digest_file: Path | None,
) -> None:
    """Copy SOURCE to DESTINATION, moving only the blobs the destination lacks."""
    # The transports (httpx, pydantic): imported when the command runs, not for --help.
    from multiarch.copy_run import run_copy

    run_copy(
        source, destination, all_platforms=all_platforms, platform=platform, insecure=insecure,
        src_tls_verify=src_tls_verify, dest_tls_verify=dest_tls_verify, src_creds=src_creds,
        dest_creds=dest_creds, authfile=authfile, registry_certificate=registry_certificate,
        registry_client_cert=registry_client_cert, digest_file=digest_file,
    )
