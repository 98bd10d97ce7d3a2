"""The core builder: builds one OCI image for one platform from a Dockerfile, no daemon.

The public API (listed in `__all__`, stable; see CHANGELOG.md): `build` an image, `push`,
`copy` and `inspect` images. Its names load on first use, so `multiarch --help` and
`import builder.cli` stay as cheap as before.
"""

import importlib as _importlib
import sys as _sys
import typing as _typing

# `import httpx` also imports its command-line client (httpx._main: click, rich.syntax,
# pygments), about 90 ms of every registry-touching start-up. A None entry makes that
# optional import fail, and httpx falls back to a stub `main`; nothing of ours uses it.
_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None blocks an import

if _typing.TYPE_CHECKING:
    from builder.api import BuildResult, build
    from builder.errors import MultiarchError
    from builder.executor.report import StepReport
    from builder.images import ImageInfo, copy, inspect, push
    from builder.options import ExecutorOptions, SecretSource
    from builder.transports import CopyResult

__all__ = [
    "BuildResult",
    "CopyResult",
    "ExecutorOptions",
    "ImageInfo",
    "MultiarchError",
    "SecretSource",
    "StepReport",
    "build",
    "copy",
    "inspect",
    "push",
]

_HOMES = {
    "BuildResult": "builder.api",
    "build": "builder.api",
    "CopyResult": "builder.transports",
    "ExecutorOptions": "builder.options",
    "SecretSource": "builder.options",
    "ImageInfo": "builder.images",
    "copy": "builder.images",
    "inspect": "builder.images",
    "push": "builder.images",
    "MultiarchError": "builder.errors",
    "StepReport": "builder.executor.report",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'builder' has no attribute {name!r}")
    return getattr(_importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
