"""Small tools shared by the sandbox tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from builder.sandbox import RunSpec, run

PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Captured:
    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def sh(
    root: Path, script: str, isolation: str = "namespace", **spec: object
) -> tuple[int, Captured]:
    """Run `sh -c script` in `root`; returns the exit code and the captured output."""
    out = Captured()
    spec.setdefault("env", (PATH,))
    code = run(RunSpec(root=root, argv=("/bin/sh", "-c", script), **spec), isolation, out)
    return code, out


def tree_state(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Every path under root with (mode, size, mtime, inode): to prove nothing changed."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            state[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
    st = os.lstat(root)
    state["."] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
    return state


def host_mounts_under(path: Path) -> list[str]:
    """Mount points in this (the host's) mount namespace at or under `path`."""
    prefix = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]
