"""`multiarch executor` and `multiarch build` inside an unprivileged container (see conftest):
base images with device nodes, RUN steps that need /proc and /dev, a foreign architecture
through the host's binfmt handlers, a multi-stage build, a two-platform index, a cached
rebuild. Each image is checked with skopeo/umoci, and its layers hold only what its
Dockerfile changed: nothing of the builder, the job's mounts or the container's /etc files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.container.conftest import Container, write_context
from tests.container.layers import changed_paths
from tests.e2e.test_executor import inspect_config, unpack
from tests.fixtures.localdeb import PROBE_FILE, PROBE_TEXT, probe_deb
from tests.fixtures.registry import RegistryHandle, unique_repo

CONTAINER_FILES = {"etc/hosts", "etc/resolv.conf", "etc/hostname"}


def test_the_container_is_unprivileged(container: Container):
    caps = container.exec("grep", "^CapEff", "/proc/self/status").stdout.split()[1]
    assert int(caps, 16) & (1 << 21) == 0 and int(caps, 16) & (1 << 27) == 0  # SYS_ADMIN, MKNOD
    assert container.exec("unshare", "-m", "true", check=False).returncode != 0
    assert container.exec("test", "-e", "/proc/sys/fs/binfmt_misc/status",
                          check=False).returncode != 0  # fmt: skip


def test_run_steps_see_proc_and_dev(
    container: Container, registry: RegistryHandle, busybox_image: str, tmp_path: Path
):
    context = write_context(container.work, f"""
FROM {busybox_image}
RUN ls /proc/self/fd > /fds && readlink /proc/self/exe > /exe \\
 && head -c 16 /dev/urandom | wc -c > /random && echo discarded > /dev/null \\
 && grep -c ^processor /proc/cpuinfo > /cpus
""")
    ref = f"{registry.host}/{unique_repo('ctr')}:v1"
    done = container.multiarch("executor", "--context", str(context), "--destination", ref)
    assert "isolation auto: using proot (no namespaces (" in done.stderr
    assert "Traceback" not in done.stderr
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "fds").read_text().split()[:3] == ["0", "1", "2"]
    assert (rootfs / "exe").read_text() == "/bin/busybox\n"
    assert (rootfs / "random").read_text().strip() == "16"
    assert int((rootfs / "cpus").read_text()) >= 1
    assert changed_paths(ref, busybox_image, tmp_path) == [{"fds", "exe", "random", "cpus"}]


def test_debian_base_with_device_nodes_user_steps_and_bash(
    container: Container, registry: RegistryHandle, debian_image: str, tmp_path: Path
):
    context = write_context(container.work, f"""
FROM {debian_image}
RUN useradd --create-home --uid 1500 app
USER app
WORKDIR /home/app/work
RUN bash -c 'diff <(echo same) <(echo same) && id -un > whoami && ls /proc/self/fd > fds'
""")
    ref = f"{registry.host}/{unique_repo('ctr')}:debian"
    done = container.multiarch("executor", "--context", str(context), "--destination", ref)
    warnings = [line for line in done.stderr.splitlines() if "CAP_MKNOD" in line]
    assert len(warnings) == 1 and "device node(s) of the image (dev/" in warnings[0]
    assert "Traceback" not in done.stderr
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "home/app/work/whoami").read_text() == "app\n"
    assert (rootfs / "home/app/work").stat().st_uid == 1500
    assert (rootfs / "dev/null").is_char_device()  # from the base layer, unchanged
    useradd, workdir, run = changed_paths(ref, debian_image, tmp_path)
    assert {"etc/passwd", "etc/group", "etc/shadow", "home/app"} <= useradd
    assert not useradd & CONTAINER_FILES
    assert not any(p.startswith(("dev", "proc", "sys", "var/cache/multiarch")) for p in useradd)
    assert workdir == {"home", "home/app", "home/app/work"}
    assert run == workdir | {"home/app/work/whoami", "home/app/work/fds"}
    assert inspect_config(ref)["config"]["User"] == "app"


def test_multi_stage_build(
    container: Container, registry: RegistryHandle, busybox_image: str, tmp_path: Path
):
    context = write_context(container.work, f"""
FROM {busybox_image} AS build
RUN mkdir /out && echo built-in-stage-one > /out/artifact
FROM {busybox_image}
COPY --from=build /out/artifact /artifact
RUN cat /artifact > /copy
""")
    ref = f"{registry.host}/{unique_repo('ctr')}:multi"
    container.multiarch("executor", "--context", str(context), "--destination", ref)
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "copy").read_text() == "built-in-stage-one\n"
    assert changed_paths(ref, busybox_image, tmp_path) == [{"artifact"}, {"copy"}]


def test_arm64_run_through_the_hosts_handlers(
    container: Container, registry: RegistryHandle, busybox_image: str, tmp_path: Path
):
    context = write_context(container.work, f"""
FROM {busybox_image}
RUN uname -m > /arch && ls /proc/self/fd > /fds
""")
    ref = f"{registry.host}/{unique_repo('ctr')}:arm64"
    container.multiarch("executor", "--context", str(context), "--destination", ref,
                        "--custom-platform", "linux/arm64")  # fmt: skip
    assert inspect_config(ref)["architecture"] == "arm64"
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "arch").read_text() == "aarch64\n"
    arm_base = busybox_image.rsplit(":", 1)[0] + "@" + _digest_for(busybox_image, "arm64")
    assert changed_paths(ref, arm_base, tmp_path) == [{"arch", "fds"}]


def _digest_for(ref: str, arch: str) -> str:
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    entry = next(m for m in json.loads(raw)["manifests"] if m["platform"]["architecture"] == arch)
    return str(entry["digest"])


def test_two_platform_build_pushes_an_index(
    container: Container, registry: RegistryHandle, busybox_image: str, tmp_path: Path
):
    context = write_context(container.work, f"""
FROM {busybox_image}
RUN uname -m > /arch
""")
    image = f"{registry.host}/{unique_repo('ctr')}:index"
    container.multiarch("build", "--platform", "linux/amd64,linux/arm64", "--tag", image,
                        str(context))  # fmt: skip
    index = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"],
        check=True, capture_output=True, text=True).stdout)  # fmt: skip
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    for entry, machine in zip(index["manifests"], ("x86_64", "aarch64")):
        rootfs = unpack(registry, f"{image.rsplit(':', 1)[0]}@{entry['digest']}",
                        tmp_path / machine)  # fmt: skip
        assert (rootfs / "arch").read_text() == machine + "\n"


def test_a_rebuild_comes_from_the_cache(
    container: Container, registry: RegistryHandle, busybox_image: str, tmp_path: Path
):
    context = write_context(container.work, f"""
FROM {busybox_image}
RUN head -c 32 /dev/urandom | od -x > /random
""")
    repo = f"{registry.host}/{unique_repo('ctr')}"
    metadata = container.work / f"metadata-{tmp_path.name}.json"

    def build(tag: str) -> list[bool]:
        container.multiarch("executor", "--context", str(context), "--destination",
                            f"{repo}:{tag}", "--cache=true", f"--cache-repo={repo}-cache",
                            "--metadata-file", str(metadata))  # fmt: skip
        return [bool(step.get("cached")) for step in json.loads(metadata.read_text())["steps"]
                if step["instruction"].startswith("RUN")]  # fmt: skip

    assert build("first") == [False]
    assert build("second") == [True]
    first = unpack(registry, f"{repo}:first", tmp_path / "first")
    assert (unpack(registry, f"{repo}:second", tmp_path / "second") / "random").read_text() == (
        first / "random"
    ).read_text()



def test_apt_get_install_from_the_debian_mirror(
    container: Container, registry: RegistryHandle, debian_image: str, tmp_path: Path
):
    context = write_context(container.work, f"""
FROM {debian_image}
RUN apt-get update -qq \\
 && apt-get install -y -qq --no-install-recommends hello \\
 && rm -rf /var/lib/apt/lists/* && hello > /greeting
""")
    ref = f"{registry.host}/{unique_repo('ctr')}:apt"
    container.multiarch("executor", "--context", str(context), "--destination", ref)
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "greeting").read_text() == "Hello, world!\n"
    (change,) = changed_paths(ref, debian_image, tmp_path)
    assert {"usr/bin/hello", "greeting", "var/lib/dpkg/status"} <= change
    assert not change & CONTAINER_FILES
    assert not any(p.startswith(("dev/", "proc/", "sys/", "var/cache/multiarch")) for p in change)


def test_device_nodes_reach_a_copy_and_a_single_snapshot(
    container: Container, registry: RegistryHandle, debian_image: str, busybox_image: str,
    tmp_path: Path,
):
    """No CAP_MKNOD: the Debian stage's /dev nodes are recorded, not created; COPY --from
    that stage carries them, and --single-snapshot's one layer re-emits them (GNU tar reads
    the pushed layer)."""
    context = write_context(container.work, f"""
FROM {debian_image} AS base
FROM {busybox_image}
COPY --from=base /dev /debian-dev
RUN echo built > /built
""")
    ref = f"{registry.host}/{unique_repo('ctr')}:nodes"
    done = container.multiarch("executor", "--context", str(context), "--destination", ref,
                               "--single-snapshot")  # fmt: skip
    assert "Traceback" not in done.stderr
    (change,) = changed_paths(ref, busybox_image, tmp_path)
    assert {"debian-dev/null", "debian-dev/urandom", "built"} <= change
    layout = next(tmp_path.glob("layout-*"))
    last = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs/sha256" / last.split(":")[1]).read_text())
    blob = layout / "blobs/sha256" / manifest["layers"][-1]["digest"].split(":")[1]
    listing = subprocess.run(["tar", "--numeric-owner", "-tvzf", str(blob)], check=True,
                             capture_output=True, text=True).stdout.splitlines()  # fmt: skip
    nodes = {f[-1]: " ".join(f[:3]) for f in map(str.split, listing) if f[0][0] in "bc"}
    assert nodes["debian-dev/null"] == "crw-rw-rw- 0/0 1,3"
    assert nodes["debian-dev/urandom"] == "crw-rw-rw- 0/0 1,9"


def test_apt_get_installs_a_local_package_under_proot(
    container: Container, registry: RegistryHandle, debian_image: str, tmp_path: Path
):
    """apt's methods drop to the _apt user, whom PRoot cannot follow without CAP_SYS_PTRACE
    (the step used to hang): a root step's apt stays root through an apt.conf.d drop-in that
    exists for the step only. Offline: a local .deb, no mirror."""
    context = write_context(container.work, f"""
FROM {debian_image}
COPY probe.deb /tmp/
RUN timeout 120 apt-get install -y -qq /tmp/probe.deb && rm /tmp/probe.deb \\
 && apt-get check -qq && cat /{PROBE_FILE} > /installed
""")
    probe_deb(context / "probe.deb")
    ref = f"{registry.host}/{unique_repo('ctr')}:apt-local"
    container.multiarch("executor", "--context", str(context), "--destination", ref,
                        "--isolation", "proot")  # fmt: skip
    rootfs = unpack(registry, ref, tmp_path / "out")
    assert (rootfs / "installed").read_text() == PROBE_TEXT
    _, run = changed_paths(ref, debian_image, tmp_path)
    assert {PROBE_FILE, "var/lib/dpkg/status", "installed"} <= run
    assert not any(p.startswith("etc/apt") for p in run)
