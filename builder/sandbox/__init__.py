"""How a RUN step executes: namespaces + pivot_root, chroot, or in place; QEMU via binfmt_misc."""

from builder.sandbox.isolation import resolve_isolation
from builder.sandbox.qemu import (
    Handler,
    emulator_for,
    ensure_emulator,
    install,
    runs_natively,
    status,
)
from builder.sandbox.runner import run
from builder.sandbox.spec import BindMount, Isolation, Mount, RunSpec, TmpfsMount

__all__ = [
    "BindMount",
    "Handler",
    "Isolation",
    "Mount",
    "RunSpec",
    "TmpfsMount",
    "emulator_for",
    "ensure_emulator",
    "install",
    "resolve_isolation",
    "run",
    "runs_natively",
    "status",
]
