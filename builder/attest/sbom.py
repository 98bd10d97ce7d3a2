"""The SBOM of one platform image, made from what its final root filesystem holds
(builder/attest/inventory.py) and written as SPDX 2.3 (buildx's format, the default) or
CycloneDX 1.6. Deterministic: the document's namespace / serial number derive from its
content, and with SOURCE_DATE_EPOCH its time is the epoch."""

from __future__ import annotations

import hashlib
import importlib
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from builder.attest.components import Inventory
from builder.attest.inventory import take_inventory
from builder.attest.statement import Predicate
from builder.option_choices import SbomFormat

log = logging.getLogger(__name__)

WRITERS = {
    SbomFormat.SPDX: "builder.attest.sbom_spdx",
    SbomFormat.CYCLONEDX: "builder.attest.sbom_cyclonedx",
}
"""Each format's module (imported for that format only: each library costs 50-150 ms to
import): its PREDICATE_TYPE and document(inventory, name, fingerprint, created)."""


def generate_sbom(
    root: Path, fmt: SbomFormat, name: str, epoch: datetime | None = None
) -> Predicate:
    started = time.monotonic()
    writer = importlib.import_module(WRITERS[fmt])
    inventory = take_inventory(root)
    created = epoch or datetime.now(timezone.utc)
    body = writer.document(inventory, name, _fingerprint(inventory, name), created)
    predicate = Predicate(writer.PREDICATE_TYPE, body)
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
