"""What `multiarch manifest inspect` does (its flags are declared in `multiarch.manifest`):
the top manifest and, for an image, its config, printed raw, as JSON or as rich tables; with
`--attestations`, what is attached to each platform image."""

from __future__ import annotations

import json
from typing import Any

import click

from builder.errors import UsageError
from builder.transports import open_source, read_config
from multiarch.attestations_view import attestations_json, render_attestations
from multiarch.inspect_view import render
from multiarch.manifest_flags import RegistryFlags
from multiarch.manifest_run import transport_context


def inspect(reference: str, flags: RegistryFlags, *, raw: bool, as_json: bool) -> None:
    """Show an index's platforms or an image's layers (REF, docker://, oci:, docker-archive:)."""
    if raw and as_json:
        raise UsageError("--raw and --json exclude each other")
    transport_ctx = transport_context(flags, [reference])
    try:
        source = open_source(reference, transport_ctx)
        try:
            top = source.get_manifest()
            if raw:
                click.echo(top.data.decode())
                return
            config = None if top.is_index else read_config(source, top.manifest().config)
        finally:
            source.close()
    finally:
        transport_ctx.close()
    if as_json:
        body: dict[str, Any] = {
            "name": reference,
            "digest": top.digest,
            "mediaType": top.media_type,
            "size": len(top.data),
            "manifest": json.loads(top.data),
        }
        if config is not None:
            body["config"] = config.to_dict()
        click.echo(json.dumps(body, indent=2))
        return
    render(reference, top, config)


def inspect_attestations(
    reference: str, flags: RegistryFlags, *, raw: bool, as_json: bool
) -> None:
    """What is attached to each platform image of REF (a registry or an OCI layout)."""
    if raw:
        raise UsageError("--raw shows one manifest; --attestations lists many")
    # Lazy: the attestation reader brings the DSSE envelope parser (securesystemslib, ~55 ms).
    from builder.attest import read_attestations

    ctx = transport_context(flags, [reference])
    try:
        found = read_attestations(reference, ctx)
    finally:
        ctx.close()
    if as_json:
        click.echo(json.dumps(attestations_json(found), indent=2))
    else:
        render_attestations(found)
