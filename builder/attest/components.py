"""What an SBOM lists, independent of its format: the packages found in an image's root
filesystem (with their package URLs) and the files no package accounts for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Licence:
    """An SPDX licence expression; names outside the SPDX list appear in it as
    `LicenseRef-…` ids, each with the name the package gave (`named`)."""

    expression: str
    named: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Component:
    """One installed package."""

    ecosystem: str
    """The package URL type: deb, apk, pypi or npm."""
    name: str
    version: str
    purl: str
    found_at: str
    """Image path of the record it was read from (the dpkg status file, a METADATA file…)."""
    licence: Licence | None = None
    supplier: str | None = None
    source: str | None = None
    """The source package it was built from ("name version"), for distribution packages."""
    summary: str | None = None
    homepage: str | None = None


@dataclass(frozen=True)
class LooseFile:
    """An executable file that no package database accounts for (a binary COPY'd in)."""

    path: str
    sha1: str
    sha256: str
    size: int


@dataclass(frozen=True)
class OsRelease:
    """/etc/os-release's ID and VERSION_ID (purl namespace and `distro` qualifier)."""

    id: str = "linux"
    version_id: str = ""
    pretty_name: str = ""

    @property
    def distro(self) -> str | None:
        return f"{self.id}-{self.version_id}" if self.version_id else None


@dataclass(frozen=True)
class Inventory:
    os: OsRelease
    components: tuple[Component, ...] = ()
    files: tuple[LooseFile, ...] = ()
