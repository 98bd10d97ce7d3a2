"""The "container" side (issue 13): our multiarch inside its own image (`./tasks image`, tag
debug) under podman as an unprivileged CI job starts it — default capabilities and seccomp
profile, a fresh container per build, the context bind-mounted, the same loopback registry
through the host's network. `--isolation auto` picks container-root there (kaniko's model).

podman's storage lives on the bench's tmpfs, like the other sides' storage, and is loaded
afresh from the OCI layout at each suite run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from bench.host import remove_tree
from bench.measure import measure
from bench.sides import Ours, Target
from bench.workloads import Kind

REPO = Path(__file__).resolve().parent.parent
LAYOUT = REPO / ".image"
TAG = "debug"
NAME = f"localhost/multiarch-bench:{TAG}"
ENTRYPOINT = "/multiarch/bin/multiarch"
CONTEXT = "/workspace"
# field-notes: crun refuses this hybrid cgroup layout; rlimits must be explicit on these VMs.
RUN = ("run", "--rm", "--network", "host",
       "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")  # fmt: skip


class ContainerImage:
    """multiarch's image loaded into a podman storage of the bench's own, under `store`."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.problem: str | None = None

    @property
    def podman(self) -> tuple[str, ...]:
        return ("podman", "--runtime", "runc", "--cgroup-manager=cgroupfs",
                "--root", str(self.store / "root"), "--runroot", str(self.store / "run"),
                "--storage-driver", "overlay")  # fmt: skip

    def load(self) -> None:
        """Build `.image/` when missing (as `./tasks image` does), then copy its debug tag for
        this machine's architecture into a fresh podman storage."""
        if not (LAYOUT / "index.json").exists():
            print("bench: building multiarch's own image (./tasks image)", flush=True)
            built = subprocess.run([sys.executable, "-m", "multiarch.selfimage"], cwd=REPO)
            if built.returncode != 0:
                self.problem = f"`./tasks image` failed (exit {built.returncode})"
                return
        remove_tree(self.store)
        storage = f"containers-storage:[overlay@{self.store / 'root'}+{self.store / 'run'}]"
        done = subprocess.run(["skopeo", "copy", "-q", f"oci:{LAYOUT}:{TAG}", storage + NAME],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            self.problem = f"loading the image failed: {lines[-1] if lines else done.returncode}"

    def run_argv(self, *mounts: str, entrypoint: str = ENTRYPOINT) -> tuple[str, ...]:
        """`podman run` of our command in a fresh container, up to the command's arguments."""
        volumes = [flag for m in mounts for flag in ("-v", m)]
        return (*self.podman, *RUN, *volumes, "--entrypoint", entrypoint, NAME)

    def start_s(self, rounds: int = 5) -> float | None:
        """A container's start and removal: `podman run` of the image's `/bin/true` (busybox),
        median — not our interpreter's start, which the VM side pays as well."""
        if self.problem:
            return None
        return statistics.median(measure(self.run_argv(entrypoint="/bin/true")).wall_s
                                 for _ in range(rounds))


class Container(Ours):
    """Our commands as the VM side runs them, each in a fresh container."""

    name = "container"

    def __init__(self, work: Path, image: ContainerImage) -> None:
        super().__init__(work)
        self.image = image

    def unavailable(self, kind: Kind) -> str | None:
        return self.image.problem or super().unavailable(kind)

    def _launch(self, t: Target) -> tuple[str, ...]:
        return self.image.run_argv(f"{t.context}:{CONTEXT}")

    def _context(self, t: Target) -> str:
        return CONTEXT

    def _env(self) -> tuple[tuple[str, str], ...]:
        return ()  # the cache dir is the container's own, gone with it
