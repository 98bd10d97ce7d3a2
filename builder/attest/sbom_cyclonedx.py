"""An image's inventory as a CycloneDX 1.6 JSON BOM (cyclonedx-python-lib's model and
writer): the image is the BOM's subject component, which depends on its operating system,
installed packages (purl, licence, supplier) and unowned executable files (hashes).

The writer's model keeps the output valid; the JSON-schema validator is for the tests (its
uniqueItems check is quadratic: 20 s for a BOM of 2,600 components)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component as BomComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.license import LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from builder.attest.components import Component, Inventory, LooseFile
from builder.attest.statement import CYCLONEDX_BOM, multiarch_version

PREDICATE_TYPE = CYCLONEDX_BOM


def document(
    inventory: Inventory, name: str, fingerprint: str, created: datetime
) -> dict[str, Any]:
    """The CycloneDX JSON of `inventory`; its serial number derives from the content's
    `fingerprint`."""
    image = BomComponent(name=name, type=ComponentType.CONTAINER, bom_ref="image")
    system = BomComponent(
        name=inventory.os.id, version=inventory.os.version_id or None,
        description=inventory.os.pretty_name or None,
        type=ComponentType.OPERATING_SYSTEM, bom_ref="operating-system",
    )
    components = [system]
    components += [_component(c, n) for n, c in enumerate(inventory.components)]
    components += [_file(f, n) for n, f in enumerate(inventory.files)]
    tools = ToolRepository(components=[BomComponent(
        name="multiarch", version=multiarch_version(), type=ComponentType.APPLICATION)])
    bom = Bom(components=components, serial_number=uuid.UUID(fingerprint[:32]),
              metadata=BomMetaData(tools=tools, component=image,
                                   timestamp=created.replace(microsecond=0)))
    bom.register_dependency(image, components)
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    return document


def _component(component: Component, number: int) -> BomComponent:
    properties = [Property(name="multiarch:found-at", value=component.found_at)]
    if component.source:
        properties.append(Property(name="multiarch:source-package", value=component.source))
    return BomComponent(
        name=component.name, version=component.version or None, type=ComponentType.LIBRARY,
        bom_ref=f"{component.ecosystem}-{number}", purl=PackageURL.from_string(component.purl),
        description=component.summary,
        supplier=OrganizationalEntity(name=component.supplier) if component.supplier else None,
        licenses=[LicenseExpression(component.licence.expression)] if component.licence else None,
        properties=properties,
    )


def _file(loose: LooseFile, number: int) -> BomComponent:
    return BomComponent(
        name=f"/{loose.path}", type=ComponentType.FILE, bom_ref=f"file-{number}",
        hashes=[HashType(alg=HashAlgorithm.SHA_1, content=loose.sha1),
                HashType(alg=HashAlgorithm.SHA_256, content=loose.sha256)],
    )
