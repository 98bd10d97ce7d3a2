"""Overlay steps and walk snapshots (the fallback without overlayfs) build the same image,
with and without CAP_MKNOD."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from builder.executor.run import run_executor
from builder.events import discard
from builder.options import ExecutorOptions
from tests.fixtures.capabilities import without_caps
from tests.unit.fs.helpers import Entry, make_tar

DOCKERFILE = """\
FROM oci:{layout}:latest AS base
RUN mkdir -p /a/b && echo 1 > /a/b/f && rm /bin/vi && echo x > /etc/motd
COPY ctx.txt /a/
WORKDIR /w
RUN rm -r /a/b && ln -s /etc/motd /w/motd
FROM base
COPY --from=base /a /copied
"""


def test_overlay_and_walk_give_one_digest(tmp_path: Path, busybox_layout: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "ctx.txt").write_text("from the context\n")
    (context / "Dockerfile").write_text(DOCKERFILE.format(layout=busybox_layout))
    digests = {}
    for mode in ("overlay", "walk"):
        monkeypatch.setenv("MULTIARCH_SNAPSHOTTER", mode)
        monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / f"store-{mode}"))
        report = run_executor(
            ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"), no_push=True,
                            oci_layout_path=str(tmp_path / f"out-{mode}"), reproducible=True),
            discard,
        )
        digests[mode] = report.manifest.digest
        assert [s.instruction.split()[0] for s in report.steps] == ["FROM", "RUN", "COPY", "WORKDIR", "RUN", "COPY"]
    assert digests["overlay"] == digests["walk"]


NODES_DOCKERFILE = """\
FROM scratch AS rootfs
ADD rootfs.tar /
COPY extra.txt /etc/
FROM scratch
COPY --from=rootfs / /
COPY --from=rootfs /dev/null /dev/loop* /nodes/
"""

BUILD_WITHOUT_MKNOD = """
import sys
from builder.events import discard
from builder.executor.run import run_executor
from builder.options import ExecutorOptions
context, out, single = sys.argv[1], sys.argv[2], sys.argv[3] == "single"
report = run_executor(ExecutorOptions(context=context, dockerfile=context + "/Dockerfile",
                      no_push=True, oci_layout_path=out, reproducible=True,
                      single_snapshot=single), discard)
print(report.manifest.digest)
"""


@pytest.mark.parametrize("single", [False, True], ids=["per-step", "single-snapshot"])
def test_device_nodes_reach_the_layers_without_cap_mknod(
    tmp_path: Path, single: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADD of a root filesystem archive, its --single-snapshot squash, a COPY --from of that
    stage's root and of its nodes by name and wildcard: built as root (overlay, mknod) and
    without CAP_MKNOD (walk, nodes recorded), the same image, whose layers carry the device
    nodes (read by GNU tar)."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(NODES_DOCKERFILE)
    (context / "extra.txt").write_text("extra\n")
    (context / "rootfs.tar").write_bytes(make_tar(
        [Entry("dev", tarfile.DIRTYPE, mode=0o755), Entry("etc", tarfile.DIRTYPE, mode=0o755),
         Entry("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
         Entry("dev/loop0", tarfile.BLKTYPE, mode=0o660, gid=6, devmajor=7),
         Entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n")]))  # fmt: skip
    env = {**os.environ, "MULTIARCH_CACHE_DIR": str(tmp_path / "store-walk")}
    done = without_caps("-mknod,-sys_admin", BUILD_WITHOUT_MKNOD, str(context),
                        str(tmp_path / "out-walk"), "single" if single else "", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("no CAP_MKNOD here: 2 device node(s)") == 1
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store-root"))
    report = run_executor(
        ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                        no_push=True, oci_layout_path=str(tmp_path / "out-root"),
                        reproducible=True, single_snapshot=single),
        discard,
    )
    assert done.stdout.strip() == report.manifest.digest
    manifest = json.loads(_blob(tmp_path / "out-walk", report.manifest.digest).read_bytes())
    assert len(manifest["layers"]) == (1 if single else 2)
    listing = [line for layer in manifest["layers"] for line in subprocess.run(
        ["tar", "--numeric-owner", "-tvzf", str(_blob(tmp_path / "out-walk", layer["digest"]))],
        check=True, capture_output=True, text=True).stdout.splitlines()]  # fmt: skip
    nodes = sorted(" ".join(f[:3] + f[-1:]) for f in map(str.split, listing) if f[0][0] in "bc")
    assert nodes == ["brw-rw---- 0/6 7,0 dev/loop0", "brw-rw---- 0/6 7,0 nodes/loop0",
                     "crw-rw-rw- 0/0 1,3 dev/null", "crw-rw-rw- 0/0 1,3 nodes/null"]  # fmt: skip
    assert any(line.endswith(" etc/extra.txt") for line in listing)


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


@pytest.mark.parametrize("mode", ["overlay", "walk"])
def test_chroot_steps_get_proc_and_dev_that_no_layer_holds(
    tmp_path: Path, busybox_layout: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM oci:{busybox_layout}:latest\n"
        "RUN ls /proc/self/fd > /fds && head -c 4 /dev/urandom | wc -c > /rand\n"
    )
    monkeypatch.setenv("MULTIARCH_SNAPSHOTTER", mode)
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    report = run_executor(
        ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                        no_push=True, oci_layout_path=str(tmp_path / "out"),
                        isolation="chroot"),
        discard,
    )
    manifest = json.loads(_blob(tmp_path / "out", report.manifest.digest).read_bytes())
    with tarfile.open(_blob(tmp_path / "out", manifest["layers"][-1]["digest"])) as tar:
        assert sorted(tar.getnames()) == ["fds", "rand"]
        fds, rand = (tar.extractfile(name).read().decode() for name in ("fds", "rand"))
    assert fds.split()[:3] == ["0", "1", "2"] and rand.strip() == "4"
