"""Distribution packages of an image: dpkg's status database (Debian, Ubuntu; also the
one-file-per-package status.d of distroless images) with licences from machine-readable
copyright files, and Alpine's apk database; and the files those databases own."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import cast

from builder.attest.components import Component, Licence, OsRelease
from builder.attest.licences import debian_licence, metadata_licence
from builder.attest.purls import purl
from builder.attest.rootfiles import ImageRoot

log = logging.getLogger(__name__)
# python-debian warns about every copyright file whose Format URL is an old spelling.
logging.getLogger("debian.copyright").setLevel(logging.ERROR)

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d"
DPKG_INFO = "var/lib/dpkg/info"
APK_INSTALLED = "lib/apk/db/installed"
# dpkg states whose package's files are on disk (dpkg-query -W lists these and config-files).
_PRESENT = frozenset({"installed", "half-configured", "unpacked", "half-installed",
                      "triggers-awaited", "triggers-pending"})


def os_release(root: ImageRoot) -> OsRelease:
    text = root.read_text("etc/os-release") or root.read_text("usr/lib/os-release") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    return OsRelease(fields.get("ID", "linux").lower() or "linux", fields.get("VERSION_ID", ""),
                     fields.get("PRETTY_NAME", ""))


def debian_packages(root: ImageRoot, release: OsRelease) -> list[Component]:
    found: list[Component] = []
    for where, text in _status_files(root):
        # python-debian (20 ms to import) only for images that have dpkg's database.
        from debian.deb822 import Packages

        for paragraph in Packages.iter_paragraphs(text, use_apt_pkg=False):
            status = paragraph.get("Status", "install ok installed").split()
            if not paragraph.get("Package") or status[-1:] and status[-1] not in _PRESENT:
                continue
            found.append(_debian_component(root, release, paragraph, where))
    return found


def _status_files(root: ImageRoot) -> Iterator[tuple[str, str]]:
    text = root.read_text(DPKG_STATUS)
    if text:
        yield DPKG_STATUS, text
    for name in root.listdir(DPKG_STATUS_D):
        path = f"{DPKG_STATUS_D}/{name}"
        text = root.read_text(path)
        if text and not name.endswith(".md5sums"):
            yield path, text


def _debian_component(
    root: ImageRoot, release: OsRelease, paragraph: Mapping[str, str], where: str
) -> Component:
    name, version = paragraph["Package"], paragraph.get("Version", "")
    arch = paragraph.get("Architecture")
    source_name, _, source_version = paragraph.get("Source", name).partition(" ")
    source_version = source_version.strip("()") or version
    qualifiers = {"arch": arch, "distro": release.distro}
    if (source_name, source_version) != (name, version):
        qualifiers["upstream"] = f"{source_name}@{source_version}"
    return Component(
        ecosystem="deb", name=name, version=version,
        purl=purl("deb", release.id, name, version, qualifiers),
        found_at=where, licence=_copyright_licence(root, name),
        supplier=paragraph.get("Maintainer"), source=f"{source_name} {source_version}",
        summary=(paragraph.get("Description") or "").partition("\n")[0] or None,
        homepage=paragraph.get("Homepage"),
    )


def _copyright_licence(root: ImageRoot, package: str) -> Licence | None:
    text = root.read_text(f"usr/share/doc/{package}/copyright")
    if not text or not text.startswith("Format:"):
        return None
    from debian.copyright import Copyright, Error, License  # with Packages: see above

    try:
        copyright = Copyright(text.splitlines(keepends=True), strict=False)
    except (Error, ValueError) as error:
        log.debug("%s: copyright file not machine-readable: %s", package, error)
        return None
    synopses = [cast(License, p.license).synopsis for p in copyright.all_files_paragraphs()
                if p.license is not None]
    return debian_licence(synopses)


def debian_owned_files(root: ImageRoot) -> set[str]:
    """Image paths (without the leading /) that dpkg's file lists name."""
    owned: set[str] = set()
    for name in root.listdir(DPKG_INFO):
        if name.endswith(".list"):
            text = root.read_text(f"{DPKG_INFO}/{name}") or ""
            owned.update(line.strip("/") for line in text.splitlines() if line.strip("/"))
    return owned


def alpine_packages(root: ImageRoot, release: OsRelease) -> tuple[list[Component], set[str]]:
    """apk's installed packages and the files it records for them."""
    text = root.read_text(APK_INSTALLED)
    found: list[Component] = []
    owned: set[str] = set()
    for record in (text or "").split("\n\n"):
        fields: dict[str, str] = {}
        folder = ""
        for line in record.splitlines():
            key, _, value = line.partition(":")
            if key == "F":
                folder = value
            elif key == "R":
                owned.add(f"{folder}/{value}" if folder else value)
            elif len(key) == 1:
                fields.setdefault(key, value)
        if "P" not in fields:
            continue
        name, version, arch = fields["P"], fields.get("V", ""), fields.get("A")
        origin = fields.get("o", name)
        qualifiers = {"arch": arch, "distro": release.distro}
        if origin != name:
            qualifiers["upstream"] = origin
        found.append(Component(
            ecosystem="apk", name=name, version=version,
            purl=purl("apk", release.id, name, version, qualifiers), found_at=APK_INSTALLED,
            licence=metadata_licence(fields.get("L")), supplier=fields.get("m"),
            source=f"{origin} {version}",
            summary=fields.get("T"), homepage=fields.get("U"),
        ))
    return found, owned
