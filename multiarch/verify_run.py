"""What `multiarch verify` does (its flags are declared in `multiarch.verify`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from builder.attest import load_public_key, read_attestations, verify_attestations
from builder.errors import SignatureError
from multiarch.attestations_view import render_verified, verify_json
from multiarch.manifest_flags import RegistryFlags
from multiarch.manifest_run import transport_context


def run_verify(
    image: str, key_file: Path, flags: RegistryFlags, *, allow_unsigned: bool, as_json: bool
) -> None:
    """Print what was verified; on any failure, one line each on stderr (or the JSON), then
    exit 1."""
    key = load_public_key(key_file)
    ctx = transport_context(flags, [image])
    try:
        found = read_attestations(image, ctx)
    finally:
        ctx.close()
    report = verify_attestations(found, key, allow_unsigned=allow_unsigned)
    if as_json:
        click.echo(json.dumps(verify_json(report), indent=2))
    elif report.ok:
        render_verified(report)
    for failure in report.failures:
        click.echo(failure, err=True)
    if not report.ok:
        raise SignatureError(
            f"{image}: {len(report.failures)} verification failure(s) with key {key.keyid}"
        )
