"""An image's inventory as an SPDX 2.3 document (spdx-tools' model, converter and
validator): the image is the described package; it CONTAINS its operating system, every
installed package (purl as a package-manager reference, declared licence, supplier, source
package) and every executable file no package accounts for (SHA-1 and SHA-256)."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
from spdx_tools.spdx.model import (
    Actor,
    ActorType,
    Checksum,
    ChecksumAlgorithm,
    CreationInfo,
    Document,
    ExternalPackageRef,
    ExternalPackageRefCategory,
    ExtractedLicensingInfo,
    File,
    FileType,
    Package,
    PackagePurpose,
    Relationship,
    RelationshipType,
    SpdxNoAssertion,
)
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from builder.attest.components import Component, Inventory, Licence, LooseFile
from builder.attest.licences import spdx_licensing
from builder.attest.statement import SPDX_DOCUMENT, multiarch_version
from builder.errors import BuildError

PREDICATE_TYPE = SPDX_DOCUMENT
NAMESPACE_BASE = "https://multiarch.invalid/sbom"
"""SPDX wants a unique URI per document; no one serves it (`.invalid`, RFC 2606)."""
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
DOCUMENT_ID = "SPDXRef-DOCUMENT"
IMAGE_ID = "SPDXRef-image"
OS_ID = "SPDXRef-operating-system"


def document(
    inventory: Inventory, name: str, fingerprint: str, created: datetime
) -> dict[str, Any]:
    """The SPDX JSON of `inventory`, validated (a failure is this module's bug, not the
    image's: it raises). Its namespace derives from the content's `fingerprint`."""
    noassertion = SpdxNoAssertion()
    namespace = f"{NAMESPACE_BASE}/{_safe(name)}-{fingerprint[:32]}"
    info = CreationInfo(
        spdx_version="SPDX-2.3", spdx_id=DOCUMENT_ID, name=name, document_namespace=namespace,
        creators=[Actor(ActorType.TOOL, f"multiarch-{multiarch_version()}")],
        created=created.replace(microsecond=0),
    )
    image = Package(IMAGE_ID, name, noassertion, files_analyzed=False,
                    primary_package_purpose=PackagePurpose.CONTAINER)
    system = Package(OS_ID, inventory.os.id, noassertion, version=inventory.os.version_id or None,
                     files_analyzed=False, summary=inventory.os.pretty_name or None,
                     primary_package_purpose=PackagePurpose.OPERATING_SYSTEM)
    packages = [image, system]
    relationships = [
        Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, IMAGE_ID),
        Relationship(IMAGE_ID, RelationshipType.CONTAINS, OS_ID),
    ]
    licences: dict[str, ExtractedLicensingInfo] = {}
    for number, component in enumerate(inventory.components):
        package = _package(component, number, licences)
        packages.append(package)
        relationships.append(Relationship(IMAGE_ID, RelationshipType.CONTAINS, package.spdx_id))
    files = [_file(loose, number) for number, loose in enumerate(inventory.files)]
    # Files stay unrelated: a package without analysed files (the image's) may contain none.
    document = Document(info, packages=packages, files=files, relationships=relationships,
                        extracted_licensing_info=list(licences.values()))
    problems = validate_full_spdx_document(document)
    if problems:
        shown = "; ".join(problem.validation_message[:200] for problem in problems[:3])
        raise BuildError(f"the SBOM of {name} is not valid SPDX 2.3 ({len(problems)} "
                         f"problem(s)): {shown}")
    # spdx-tools' DocumentConverter.__init__ has no annotation
    converter = DocumentConverter()  # type: ignore[no-untyped-call]
    return converter.convert(document)


def _package(
    component: Component, number: int, licences: dict[str, ExtractedLicensingInfo]
) -> Package:
    declared = _licence(component.licence, licences) if component.licence else SpdxNoAssertion()
    return Package(
        f"SPDXRef-{component.ecosystem}-{_ID_UNSAFE.sub('-', component.name)}-{number}",
        component.name, SpdxNoAssertion(), version=component.version or None,
        supplier=_actor(component.supplier) if component.supplier else SpdxNoAssertion(),
        files_analyzed=False, homepage=component.homepage, license_concluded=SpdxNoAssertion(),
        license_declared=declared, copyright_text=SpdxNoAssertion(), summary=component.summary,
        source_info=f"built from source package {component.source}" if component.source else None,
        comment=f"found in {component.found_at}",
        external_references=[ExternalPackageRef(
            ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", component.purl)],
        primary_package_purpose=PackagePurpose.LIBRARY,
    )


def _file(loose: LooseFile, number: int) -> File:
    return File(
        f"./{loose.path}", f"SPDXRef-file-{number}",
        [Checksum(ChecksumAlgorithm.SHA1, loose.sha1),
         Checksum(ChecksumAlgorithm.SHA256, loose.sha256)],
        file_types=[FileType.BINARY], license_concluded=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
    )


def _licence(licence: Licence, extracted: dict[str, ExtractedLicensingInfo]) -> Any:
    for ref, original in licence.named:
        extracted.setdefault(ref, ExtractedLicensingInfo(
            license_id=ref, extracted_text=original, license_name=original))
    return spdx_licensing().parse(licence.expression)


def _actor(text: str) -> Actor:
    """A maintainer or author as packages write it ("Name <mail>")."""
    name, email = parseaddr(text)
    if not name and email and "@" not in email:  # a bare name parseaddr read as an address
        name, email = email, ""
    return Actor(ActorType.PERSON, name or text.strip(), email or None)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in name).strip("-") or "image"
