"""What the suite needs from the machine: its tools (installed from Debian if missing), QEMU
registered with binfmt_misc for arm64, and safe removal of work dirs that builds mounted into."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

APT_TOOLS = {
    "buildah": "buildah",
    "skopeo": "skopeo",
    "docker-registry": "docker-registry",
    "debootstrap": "debootstrap",
    "qemu-aarch64-static": "qemu-user-static",
    "pigz": "pigz",
    "podman": "podman",
    "runc": "runc",
}
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def _missing_packages() -> list[str]:
    from shutil import which

    return sorted({pkg for tool, pkg in APT_TOOLS.items() if which(tool) is None})


def ensure_tools() -> None:
    missing = _missing_packages()
    if not missing:
        return
    print(f"installing: {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )


def ensure_arm64_emulation() -> None:
    """Register qemu-aarch64 (F flag, from Debian's binfmt.d file) unless already there."""
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    if (BINFMT / "qemu-aarch64").exists():
        return
    rule = Path("/usr/lib/binfmt.d/qemu-aarch64.conf").read_text().strip()
    try:
        (BINFMT / "register").write_text(rule)
    except FileExistsError:
        pass  # registered by someone else meanwhile


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1].replace("\\040", " ") for line in f]
    return [t for t in targets if t.startswith(prefix)]


def remove_tree(path: Path) -> None:
    """rm -rf that first unmounts whatever a (crashed) build left mounted inside, and never
    crosses into another filesystem, so a leftover bind mount of / or /dev cannot be wiped."""
    if not path.exists():
        return
    for target in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, stderr=subprocess.DEVNULL)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
