"""What is attached to each platform image, as a rich table or JSON: `multiarch manifest
inspect --attestations` lists it, `multiarch verify` adds each attestation's verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from multiarch.inspect_view import human_size

if TYPE_CHECKING:  # the attestation types bring securesystemslib: `inspect` imports this module
    from builder.attest import Attached, ImageAttestations, VerifyReport

Row = tuple["Attached", dict[str, Any]]
"""An attestation and what a command adds to its line (verify: status and problem)."""


def attestations_json(found: ImageAttestations) -> dict[str, Any]:
    """Per platform image, what is attached: predicate type, media type, size, signers."""
    return _json(found, [(a, {}) for a in found.attestations])


def verify_json(report: VerifyReport) -> dict[str, Any]:
    """`attestations_json` with each attestation's status and problem, and the failures."""
    rows = [(v.attached, {"status": v.status, "problem": v.problem}) for v in report.verdicts]
    return _json(report.found, rows) | {
        "key": report.keyid, "verified": report.ok, "failures": list(report.failures)
    }


def render_attestations(found: ImageAttestations, console: Console | None = None) -> None:
    _table(found, [(a, {}) for a in found.attestations], console or _console())


def render_verified(report: VerifyReport, console: Console | None = None) -> None:
    console = console or _console()
    rows = [(v.attached, {"status": v.status}) for v in report.verdicts]
    _table(report.found, rows, console)
    signed = sum(v.status == "verified" for v in report.verdicts)
    console.print(
        f"verified: {signed} signed attestation(s) by key {report.keyid}, "
        f"{len(report.found.platforms)} image(s)"
    )


def _json(found: ImageAttestations, rows: list[Row]) -> dict[str, Any]:
    return {
        "name": found.image,
        "digest": found.digest,
        "platforms": [
            {
                "platform": platform,
                "digest": subject,
                "attestations": [
                    _entry(a) | extra for a, extra in rows if a.record.subject == subject
                ],
            }
            for platform, subject in found.platforms
        ],
    }


def _entry(attached: Attached) -> dict[str, Any]:
    record = attached.record
    return {
        "predicateType": record.predicate_type,
        "mediaType": record.media_type,
        "size": record.size,
        "digest": record.artifact.digest,
        "layerDigest": record.layer.digest,
        "stored": record.stored,
        "signed": record.signed,
        "keyids": list(attached.keyids),
    }


def _table(found: ImageAttestations, rows: list[Row], console: Console) -> None:
    console.print(f"[bold]{found.image}[/bold]  digest: {found.digest}")
    extra = list(rows[0][1]) if rows else []
    table = Table(
        "platform", "predicate type", "media type", "size", "signed by", "stored", *extra
    )
    for platform, subject in found.platforms:
        mine = [(a, more) for a, more in rows if a.record.subject == subject]
        if not mine:
            table.add_row(platform or "-", "(none)", *[""] * (4 + len(extra)))
        for a, more in mine:
            record = a.record
            table.add_row(
                platform or "-", record.predicate_type, record.media_type,
                human_size(record.size), ", ".join(k[:12] for k in a.keyids) or "unsigned",
                record.stored, *map(str, more.values()),
            )
    console.print(table)


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=250)
