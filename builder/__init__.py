"""The core builder: builds one OCI image for one platform from a Dockerfile, no daemon.

The public API (listed in `__all__`, stable; see CHANGELOG.md): `build` an image, `push`,
`copy` and `inspect` images; `execute` a build from the executor's own options and flags. Its names load on first use, so `multiarch --help` and
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
    from builder.api import BuildResult, build, check, execute, executor_options
    from builder.errors import MultiarchError
    from builder.executor.autoisolation import resolve_build_isolation
    from builder.executor.report import BuildReport, StepReport
    from builder.images import ImageInfo, copy, inspect, push
    from builder.option_choices import Isolation
    from builder.options import ExecutorOptions, HostEntry, SecretSource
    from builder.transports import CopyResult

__all__ = [
    "BuildReport",
    "BuildResult",
    "CopyResult",
    "ExecutorOptions",
    "HostEntry",
    "ImageInfo",
    "Isolation",
    "MultiarchError",
    "SecretSource",
    "StepReport",
    "build",
    "check",
    "copy",
    "execute",
    "executor_options",
    "inspect",
    "push",
    "resolve_build_isolation",
]

_HOMES = {
    "BuildResult": "builder.api",
    "build": "builder.api",
    "check": "builder.api",
    "execute": "builder.api",
    "executor_options": "builder.api",
    "CopyResult": "builder.transports",
    "ExecutorOptions": "builder.options",
    "SecretSource": "builder.options",
    "HostEntry": "builder.options",
    "ImageInfo": "builder.images",
    "copy": "builder.images",
    "inspect": "builder.images",
    "push": "builder.images",
    "MultiarchError": "builder.errors",
    "BuildReport": "builder.executor.report",
    "StepReport": "builder.executor.report",
    "Isolation": "builder.option_choices",
    "resolve_build_isolation": "builder.executor.autoisolation",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'builder' has no attribute {name!r}")
    return getattr(_importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
