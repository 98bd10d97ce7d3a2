"""Package URLs (purl spec) of the packages an SBOM lists."""

from __future__ import annotations

from collections.abc import Mapping

from packageurl import PackageURL


def purl(
    kind: str, namespace: str | None, name: str, version: str,
    qualifiers: Mapping[str, str | None] = {},
) -> str:
    kept = {k: v for k, v in sorted(qualifiers.items()) if v}
    return str(PackageURL(type=kind, namespace=namespace or None, name=name,
                          version=version or None, qualifiers=kept or None).to_string())
