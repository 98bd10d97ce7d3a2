"""The coordinator: one build per platform, then a multi-arch index under every tag.

The public API (listed in `__all__`, stable; see CHANGELOG.md): `load_spec`, `build`,
`manifest_push_from_spec`, `manifest_inspect` and their result types. The names load on
first use, so `multiarch --help` stays as cheap as before.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from multiarch.api import (
        IndexResult,
        ManifestPushResult,
        PlatformResult,
        Spec,
        build,
        load_spec,
        manifest_inspect,
        manifest_push_from_spec,
    )

__version__ = "0.1.0"
"""Kept equal to pyproject's version (a unit test checks); read without importlib.metadata,
which costs more than the rest of `multiarch --version`."""

__all__ = [
    "IndexResult",
    "ManifestPushResult",
    "PlatformResult",
    "Spec",
    "__version__",
    "build",
    "load_spec",
    "manifest_inspect",
    "manifest_push_from_spec",
]

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> object:
    if name not in _API:
        raise AttributeError(f"module 'multiarch' has no attribute {name!r}")
    return getattr(_importlib.import_module("multiarch.api"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
