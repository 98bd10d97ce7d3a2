"""Licence names as packages write them (Debian copyright short names, Python and npm
metadata) turned into SPDX licence expressions; names the SPDX list lacks become
`LicenseRef-…` ids that keep the original name."""

from __future__ import annotations

import re
from functools import cache

from license_expression import ExpressionError, Licensing, get_spdx_licensing

from builder.attest.components import Licence

# Debian's copyright-format short names that differ from SPDX ids (DEP-5 §7.1).
_DEBIAN_NAMES = {
    "expat": "MIT", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause", "artistic": "Artistic-1.0-Perl", "zlib": "Zlib",
    "isc": "ISC", "apache-2.0": "Apache-2.0", "mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0",
    "cc0-1.0": "CC0-1.0", "psf-2": "PSF-2.0", "python-2.0": "Python-2.0",
}
_GNU = re.compile(r"(?i)(A?GPL|LGPL|GFDL)-?(\d)(?:\.(\d))?(\+)?")
_OPERATOR = re.compile(r"\s+(?i:(or|and))\s+")
_REF_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def debian_licence(synopses: list[str]) -> Licence | None:
    """The licence of a package whose machine-readable copyright file names `synopses`
    (one per Files paragraph, e.g. "GPL-2+ or Artistic"): all of them apply (AND)."""
    parts: list[Licence] = []
    for synopsis in dict.fromkeys(s.strip() for s in synopses if s and s.strip()):
        pieces = _OPERATOR.split(synopsis.replace(",", " "))
        names = [_spdx_name(p) for p in pieces[0::2]]
        operators = [op.upper() for op in pieces[1::2]]
        text = names[0].expression
        for operator, name in zip(operators, names[1:]):
            text += f" {operator} {name.expression}"
        named = tuple(pair for n in names for pair in n.named)
        parts.append(Licence(text, named))
    return _all_of(parts)


def metadata_licence(text: str | None) -> Licence | None:
    """A licence field of Python or npm metadata: an SPDX expression, one SPDX id in any
    case, or else a short free-text name (kept as a LicenseRef)."""
    text = (text or "").strip()
    if not text or "\n" in text or len(text) > 80 or text.upper() in ("UNKNOWN", "UNLICENSED"):
        return None
    expression = _valid_expression(text)
    if expression is not None:
        return Licence(expression)
    return _spdx_name(text)


def _all_of(parts: list[Licence]) -> Licence | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    text = " AND ".join(f"({p.expression})" if " " in p.expression else p.expression
                        for p in parts)
    named = tuple(dict.fromkeys(pair for p in parts for pair in p.named))
    return Licence(text, named)


def _spdx_name(name: str) -> Licence:
    name = name.strip()
    gnu = _GNU.fullmatch(name)
    if gnu:
        family, major, minor, later = gnu.groups()
        return Licence(f"{family.upper()}-{major}.{minor or 0}-{'or-later' if later else 'only'}")
    known = _DEBIAN_NAMES.get(name.lower()) or _spdx_ids().get(name.lower())
    if known:
        return Licence(known)
    ref = "LicenseRef-" + (_REF_UNSAFE.sub("-", name).strip("-") or "unnamed")
    return Licence(ref, ((ref, name),))


def _valid_expression(text: str) -> str | None:
    try:
        parsed = spdx_licensing().parse(text, validate=True, strict=True)
    except ExpressionError:
        return None
    return None if parsed is None else str(parsed)


@cache
def spdx_licensing() -> Licensing:
    """The SPDX licence list as license-expression's parser (~30 ms to build: once)."""
    return get_spdx_licensing()


@cache
def _spdx_ids() -> dict[str, str]:
    """SPDX licence ids by their lower-case spelling."""
    return {key.lower(): key for key in spdx_licensing().known_symbols}
