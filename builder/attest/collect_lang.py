"""Language packages installed in an image: Python distributions (`*.dist-info` and
`*.egg-info` metadata, with the files their RECORD lists) and npm packages
(`node_modules/[@scope/]name/package.json`)."""

from __future__ import annotations

import csv
import json
import posixpath
import re
from email.parser import HeaderParser

from builder.attest.components import Component
from builder.attest.licences import metadata_licence
from builder.attest.purls import purl
from builder.attest.rootfiles import ImageRoot

_PEP503 = re.compile(r"[-_.]+")


def python_distribution(root: ImageRoot, path: str) -> tuple[Component | None, set[str]]:
    """The distribution whose metadata is at `path` (a .dist-info or .egg-info directory, or
    an .egg-info file) and the image paths its RECORD (or installed-files.txt) names."""
    if path.endswith(".dist-info"):
        metadata_path = f"{path}/METADATA"
    elif root.real_dir(path) is not None:
        metadata_path = f"{path}/PKG-INFO"
    else:
        metadata_path = path
    text = root.read_text(metadata_path)
    if not text:
        return None, set()
    headers = HeaderParser().parsestr(text, headersonly=True)
    name, version = headers.get("Name", "").strip(), headers.get("Version", "").strip()
    if not name or not version:
        return None, set()
    licence = metadata_licence(headers.get("License-Expression") or headers.get("License"))
    component = Component(
        ecosystem="pypi", name=name, version=version,
        purl=purl("pypi", None, _PEP503.sub("-", name).lower(), version),
        found_at=metadata_path, licence=licence,
        supplier=headers.get("Author") or headers.get("Author-email") or None,
        summary=headers.get("Summary") or None, homepage=headers.get("Home-page") or None,
    )
    return component, _recorded_files(root, path)


def _recorded_files(root: ImageRoot, path: str) -> set[str]:
    site = path.rpartition("/")[0]
    if path.endswith(".dist-info"):
        record, base = root.read_text(f"{path}/RECORD") or "", site
        names = [row[0] for row in csv.reader(record.splitlines()) if row]
    else:
        names = (root.read_text(f"{path}/installed-files.txt") or "").splitlines()
        base = path
    return {posixpath.normpath(f"{base}/{name}").lstrip("/") for name in names if name}


def npm_package(root: ImageRoot, path: str) -> Component | None:
    """The npm package whose manifest is `path` (…/node_modules/[@scope/]name/package.json)."""
    text = root.read_text(path)
    try:
        manifest = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    scope, _, bare = name.rpartition("/")
    return Component(
        ecosystem="npm", name=name, version=version,
        purl=purl("npm", scope or None, bare, version), found_at=path,
        licence=metadata_licence(_npm_licence(manifest.get("license"))),
        supplier=_npm_author(manifest.get("author")),
        summary=_text(manifest.get("description")), homepage=_text(manifest.get("homepage")),
    )


def is_npm_manifest(directory: str) -> bool:
    """Whether `directory` is a package folder of a node_modules tree."""
    parent, _, name = directory.rpartition("/")
    if parent.endswith("node_modules") and not name.startswith((".", "@")):
        return parent == "node_modules" or parent.endswith("/node_modules")
    scope_parent, _, scope = parent.rpartition("/")
    return scope.startswith("@") and (
        scope_parent == "node_modules" or scope_parent.endswith("/node_modules"))


def _npm_licence(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("type")
    return value if isinstance(value, str) else None


def _npm_author(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    return _text(value)


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
