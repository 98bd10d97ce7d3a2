"""A cancelled CI job: the builder gets SIGTERM/SIGINT (or dies) while a RUN step is running.
The step's whole process tree must die and every mount and stub must go."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.waiting import wait_for
from tests.integration.sandbox.helpers import host_mounts_under, tree_state

BUILDER = """
import signal, sys
from pathlib import Path
from builder.sandbox import RunSpec, TmpfsMount, run
root, token, how, isolation = sys.argv[1:]
if how == "handled":  # a builder that turns SIGTERM into an orderly exit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
mounts = (TmpfsMount("/scratch"),) if isolation == "namespace" else ()
script = f"sleep {token}1 & echo started; sleep {token}2; echo not-killed"
run(RunSpec(root=Path(root), argv=("/bin/sh", "-c", script), env=("PATH=/bin:/usr/bin",),
            mounts=mounts), isolation, lambda line: print(line, flush=True))
"""


def processes_with(token: str) -> set[int]:
    """Processes whose command line holds token+"1" or token+"2" (the step's sleeps and sh;
    not the builder, whose arguments hold only the token)."""
    marks = (f"{token}1".encode(), f"{token}2".encode())
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
                if any(mark in cmdline for mark in marks):
                    found.add(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.parametrize(
    "how, sig, isolation",
    [
        ("default", signal.SIGTERM, "namespace"),  # the builder dies at once
        ("handled", signal.SIGTERM, "namespace"),
        ("default", signal.SIGINT, "namespace"),  # KeyboardInterrupt inside run()
        ("handled", signal.SIGTERM, "chroot"),
        ("default", signal.SIGKILL, "chroot"),
    ],
)
def test_builder_signal_kills_the_step_and_cleans_up(busybox_rootfs, how, sig, isolation):
    root: Path = busybox_rootfs("amd64")
    before = tree_state(root)
    token = str(secrets.randbelow(10**6) + 10**6)  # an unlikely sleep duration
    builder = subprocess.Popen(
        [sys.executable, "-c", BUILDER, str(root), token, how, isolation],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert builder.stdout.readline().strip() == "started"
        wait_for(lambda: len(processes_with(token)) >= 3, timeout=30, what="the step's processes")
        builder.send_signal(sig)
        assert builder.wait(timeout=30) != 0
        assert "not-killed" not in builder.stdout.read()
        wait_for(lambda: not processes_with(token), timeout=30, what="the step tree to die")
        wait_for(lambda: not host_mounts_under(root), timeout=30, what="mounts to go")
        wait_for(lambda: tree_state(root) == before, timeout=30, what="stubs to be removed")
    finally:
        if builder.poll() is None:
            builder.kill()
            builder.wait()
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)
