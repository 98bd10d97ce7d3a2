"""Soak run: N consecutive `multiarch executor` builds (RUN step, push) through a seeded
fault proxy in front of a real registry, sharing one store on tmpfs.

Counts wrong digests (vs a fault-free first build), leaked mounts and temp files after each
build, and each build's peak RSS (flat memory = no growth from first to last).

    python -m bench.soak [--builds 50] [--rate 0.2] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from multiarch.demo.busybox import build_busybox_rootfs
from tests.fixtures.busybox_images import busybox_image_of
from tests.fixtures.faultproxy import FaultProxy, FaultSchedule
from tests.fixtures.images import image_layout
from tests.fixtures.registry import RegistryServer
from tests.reliability.conftest import FAST_RETRY_ENV
from tests.reliability.helpers import CLI, leftovers, mounts_under

DOCKERFILE = "ARG BASE\nFROM $BASE\nRUN mkdir -p /data && seq 1 20000 > /data/n && echo ok > /ok\n"


def build(work: Path, base: str, dest: str, env: dict[str, str], digest_file: Path) -> tuple[int, int, str]:
    """Run one build; (exit code, peak RSS KiB, stderr tail)."""
    context = work / "ctx"
    args = ["executor", "--context", str(context), "--dockerfile", str(context / "Dockerfile"),
            "--build-arg", f"BASE={base}", "--destination", dest, "--reproducible",
            "--insecure-registry", base.split("/")[0], "--insecure-registry", dest.split("/")[0],
            "--digest-file", str(digest_file)]
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss, stderr.decode(errors="replace")[-300:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-", dir="/dev/shm"))
    server = RegistryServer(work / "registry").start()
    try:
        root = build_busybox_rootfs("amd64", work / "rootfs")
        layout = image_layout(work / "layout", busybox_image_of(root, "amd64", work))
        handle = server.handle()
        base = f"{handle.host}/base/busybox:1"
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:latest",
                        f"docker://{base}"], check=True)
        (work / "ctx").mkdir()
        (work / "ctx" / "Dockerfile").write_text(DOCKERFILE)
        store = work / "store"
        env = {**os.environ, **FAST_RETRY_ENV, "MULTIARCH_CACHE_DIR": str(store)}
        code, _, err = build(work, base, f"{handle.host}/soak/clean:v", env, work / "clean")
        if code != 0:
            sys.exit(f"fault-free build failed: {err}")
        expected = (work / "clean").read_text()
        proxy = FaultProxy("127.0.0.1", server.port, FaultSchedule(seed=opts.seed, rate=opts.rate)).start()
        failed = wrong = leaked_mounts = leaked_tmp = 0
        rss: list[int] = []
        for i in range(opts.builds):
            digest_file = work / f"d{i}"
            code, peak, err = build(work, base.replace(handle.host, proxy.host), f"{proxy.host}/soak/r{i}:v",
                                    env, digest_file)
            rss.append(peak)
            failed += code != 0
            wrong += code == 0 and digest_file.read_text() != expected
            leaked_mounts += len(mounts_under(store))
            leaked_tmp += len(leftovers(store))
            print(f"build {i + 1}/{opts.builds}: exit {code}, peak RSS {peak // 1024} MiB"
                  + (f"  {err.strip().splitlines()[-1]}" if code else ""), flush=True)
        proxy.stop()
        print(json.dumps({
            "builds": opts.builds, "fault_rate": opts.rate, "seed": opts.seed,
            "faults_injected": sum(proxy.stats.faults.values()), "requests": proxy.stats.requests,
            "failed_builds": failed, "wrong_digests": wrong, "leaked_mounts": leaked_mounts,
            "leaked_temp_files": leaked_tmp,
            "peak_rss_mib": {"first": rss[0] // 1024, "last": rss[-1] // 1024, "max": max(rss) // 1024},
        }, indent=2))
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
