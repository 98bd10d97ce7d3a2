"""The SBOM of one platform image, made from what its final root filesystem holds
(builder/attest/inventory.py) and written as SPDX 2.3 (buildx's format, the default) or
CycloneDX 1.6. Deterministic: the document's namespace / serial number derive from its
content, and with SOURCE_DATE_EPOCH its time is the epoch."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from builder.attest.components import Inventory
from builder.attest.inventory import take_inventory
from builder.attest.sbom_cyclonedx import cyclonedx_bom
from builder.attest.sbom_spdx import spdx_document
from builder.attest.statement import (
    CYCLONEDX_BOM,
    SPDX_DOCUMENT,
    Predicate,
    multiarch_version,
)
from builder.option_choices import SbomFormat

log = logging.getLogger(__name__)

TOOL = "multiarch"
NAMESPACE_BASE = "https://multiarch.invalid/sbom"
"""SPDX wants a unique URI per document; no one serves it (`.invalid`, RFC 2606)."""


def generate_sbom(
    root: Path, fmt: SbomFormat, name: str, epoch: datetime | None = None
) -> Predicate:
    started = time.monotonic()
    inventory = take_inventory(root)
    created = epoch or datetime.now(timezone.utc)
    fingerprint = _fingerprint(inventory, name)
    version = multiarch_version()
    if fmt is SbomFormat.CYCLONEDX:
        serial = uuid.UUID(fingerprint[:32])
        body = cyclonedx_bom(inventory, name, serial, created, TOOL, version)
        predicate = Predicate(CYCLONEDX_BOM, body)
    else:
        namespace = f"{NAMESPACE_BASE}/{_safe(name)}-{fingerprint[:32]}"
        body = spdx_document(inventory, name, namespace, created, f"{TOOL}-{version}")
        predicate = Predicate(SPDX_DOCUMENT, body)
    log.info("sbom (%s): %d packages, %d other executable files, %.2f s", fmt.value,
             len(inventory.components), len(inventory.files), time.monotonic() - started)
    return predicate


def _fingerprint(inventory: Inventory, name: str) -> str:
    digest = hashlib.sha256(name.encode())
    for component in inventory.components:
        digest.update(f"\0{component.purl}\0{component.found_at}".encode())
    for loose in inventory.files:
        digest.update(f"\0{loose.path}\0{loose.sha256}".encode())
    return digest.hexdigest()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in name).strip("-") or "image"

