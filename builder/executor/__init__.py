"""The core builder: execute Dockerfile stages for a platform and write the image.

Entry point: `run_executor(ExecutorOptions) -> BuildReport` (what `multiarch executor`
calls). Imported lazily so `multiarch` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.executor.run import run_executor


def __getattr__(name: str) -> Any:
    if name == "run_executor":
        # Lazy: importing builder.executor.report (say) must not import the whole executor.
        from builder.executor.run import run_executor

        return run_executor
    raise AttributeError(name)


__all__ = ["run_executor"]
