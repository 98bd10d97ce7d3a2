"""`multiarch verify IMAGE --key PUB.pem`: every attestation of every platform image is signed
by the key, names its image as subject, and matches its digests. Only the flags are declared
here, for a cheap --help; `multiarch.verify_run` does the work."""

from __future__ import annotations

from pathlib import Path

import click

from multiarch.manifest_flags import RegistryFlags, registry_flags


@click.command("verify")
@click.argument("image")
@click.option(
    "--key",
    required=True,
    type=click.Path(path_type=Path),
    help="The signer's public key (PEM; `openssl pkey -in KEY -pubout`).",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept unsigned attestations (their subject is still checked).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@registry_flags
def verify(
    image: str,
    key: Path,
    allow_unsigned: bool,
    as_json: bool,
    registry: RegistryFlags,
) -> None:
    """Verify the signed attestations of every platform of IMAGE (docker://REF or oci:DIR)."""
    # The registry client and the cryptography: imported when the command runs.
    from multiarch.verify_run import run_verify

    run_verify(image, key, registry, allow_unsigned=allow_unsigned, as_json=as_json)
