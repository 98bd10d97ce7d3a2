"""RUN steps for real: namespaces, chroot and in-place modes on busybox root filesystems."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from builder.errors import SandboxError
from builder.oci.platform import parse_platform
from builder.sandbox import (
    BindMount,
    Isolation,
    RunSpec,
    TmpfsMount,
    install,
    resolve_isolation,
    run,
)
from tests.integration.sandbox.helpers import PATH, Captured, host_mounts_under, sh, tree_state


@pytest.fixture
def root(busybox_rootfs) -> Path:
    return busybox_rootfs("amd64")


def test_auto_picks_namespace_on_this_host():
    assert resolve_isolation("auto") is Isolation.NAMESPACE


def test_namespace_step_sees_its_own_system(root: Path):
    code, out = sh(
        root,
        "uname -m; echo pid=$$; hostname; test -e /proc/self/status && echo proc-ok; "
        "test -c /dev/null && echo null-ok; ls /sys/kernel >/dev/null && echo sys-ok; "
        "grep -q nameserver /etc/resolv.conf && echo resolv-ok; grep localhost /etc/hosts",
        hostname="stepbox",
    )
    assert code == 0, out.text
    assert out.lines[:3] == ["x86_64", "pid=1", "stepbox"]
    assert {"proc-ok", "null-ok", "sys-ok", "resolv-ok"} <= set(out.lines)
    assert "127.0.0.1\tlocalhost stepbox" in out.lines


def test_environment_is_exactly_the_spec(root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("DOCKER_CONFIG", "/kaniko/.docker")
    out = Captured()
    env = (PATH, "HOME=/root", "EMPTY=", "SPACED=a b")
    assert run(RunSpec(root=root, argv=("env",), env=env), "namespace", out) == 0
    assert sorted(out.lines) == sorted(env)


def test_user_groups_and_working_directory(root: Path):
    code, out = sh(root, "id; pwd; touch mine && stat -c %u:%g mine", uid=1000, gid=1000,
                   extra_gids=(100,), cwd="/home/builder/src")  # fmt: skip
    assert code == 0, out.text
    assert out.lines == [
        "uid=1000(builder) gid=1000(builder) groups=100(users)",
        "/home/builder/src",
        "1000:1000",
    ]


@pytest.mark.parametrize("status", [0, 1, 3, 255])
def test_exit_code_propagates(root: Path, status: int):
    assert sh(root, f"exit {status}")[0] == status


def test_missing_command_is_exit_127_with_a_message(root: Path):
    out = Captured()
    assert run(RunSpec(root=root, argv=("nope",), env=(PATH,)), "namespace", out) == 127
    assert out.lines == ["exec nope: No such file or directory"]


def test_output_is_streamed_while_the_step_runs(root: Path, tmp_path: Path):
    """The step waits for a file that only the output callback creates: it must see 'ready'
    before the step ends, or the step times out and fails."""
    signal_dir = tmp_path / "signal"
    signal_dir.mkdir()

    def on_output(line: str) -> None:
        out(line)
        if line == "ready":
            (signal_dir / "go").touch()

    out = Captured()
    script = "echo ready; i=0; while [ ! -e /sig/go ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 9; " \
             "usleep 10000; done; echo >&2 done"  # fmt: skip
    spec = RunSpec(root=root, argv=("/bin/sh", "-c", script), env=(PATH,),
                   mounts=(BindMount(signal_dir, "/sig"),))  # fmt: skip
    code = run(spec, "namespace", on_output)
    assert (code, out.lines) == (0, ["ready", "done"])


@pytest.mark.parametrize("isolation", ["namespace", "chroot"])
def test_arm64_step_runs_under_qemu(busybox_rootfs, isolation: str):
    install(["arm64"])
    out = Captured()
    spec = RunSpec(root=busybox_rootfs("arm64"), argv=("sh", "-c", "uname -m; id -u"), env=(PATH,),
                   uid=1000, gid=1000, platform=parse_platform("linux/arm64"))  # fmt: skip
    assert run(spec, isolation, out) == 0
    assert out.lines == ["aarch64", "1000"]


def test_chroot_mode(root: Path):
    """Where mounting is permitted (here, root) the step gets the machine's /proc and a
    minimal /dev, in the worker's own mount namespace: nothing is left in the root."""
    before = tree_state(root)
    code, out = sh(root, "uname -m; id -u; echo x > /dev/null && echo null-ok; "
                   "grep -q nameserver /etc/resolv.conf && echo resolv-ok; "
                   "ls /proc/self/fd | tr '\\n' ' '; echo; readlink /proc/self/exe; "
                   "head -c 8 /dev/urandom | wc -c; ls /dev/pts /dev/shm >/dev/null && echo pts; "
                   "exit 5", isolation="chroot", uid=1000, gid=1000)  # fmt: skip
    assert code == 5
    assert out.lines == ["x86_64", "1000", "null-ok", "resolv-ok", "0 1 2 3 ", "/bin/busybox",
                         "8", "pts"]  # fmt: skip
    assert tree_state(root) == before
    assert not any(m.split()[4].startswith(str(root)) for m in
                   Path("/proc/self/mountinfo").read_text().splitlines())  # fmt: skip


def test_chroot_mode_refuses_mounts(root: Path, tmp_path: Path):
    with pytest.raises(SandboxError, match="needs mounting"):
        sh(root, "true", isolation="chroot", mounts=(TmpfsMount("/x"),))


def test_container_root_mode_runs_in_place_and_needs_root_slash(root: Path):
    out = Captured()
    spec = RunSpec(root=Path("/"), argv=("/bin/busybox", "env"), env=("A=1",))
    assert run(spec, "container-root", out) == 0
    assert out.lines == ["A=1"]
    with pytest.raises(SandboxError, match="own root"):
        run(RunSpec(root=root, argv=("true",)), "container-root")


def test_network_none_has_only_loopback(root: Path):
    code, out = sh(root, "ls /sys/class/net", network="none")
    assert (code, out.lines) == (0, ["lo"])


def test_mounts_and_stubs_leave_nothing_behind(root: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value")
    before = tree_state(root)
    mounts = (
        BindMount(cache, "/var/cache/apt/deep"),
        BindMount(secret, "/run/secrets/token", readonly=True),
        TmpfsMount("/scratch", size=1 << 20),
    )
    code, out = sh(
        root,
        "echo kept > /var/cache/apt/deep/f; cat /run/secrets/token; echo; "
        "echo x > /run/secrets/token || echo ro-ok; echo t > /scratch/t; "
        "echo edited > /etc/resolv.conf; echo edited > /etc/hosts",
        mounts=mounts,
    )
    assert code == 0, out.text
    assert out.lines[0] == "s3cret-value" and "ro-ok" in out.lines
    assert tree_state(root) == before, "mount points or stubs were left in the root"
    assert (cache / "f").read_text() == "kept\n"
    assert secret.read_text() == "s3cret-value"
    assert host_mounts_under(root) == []


def test_existing_files_are_mounted_over_not_replaced(root: Path):
    (root / "etc/hosts").write_text("image hosts\n")
    code, out = sh(root, "cat /etc/hosts")
    assert code == 0 and "localhost" in out.text
    assert (root / "etc/hosts").read_text() == "image hosts\n"


def test_a_daemon_escaping_the_chroot_step_does_not_hang_the_build(root: Path):
    """setsid leaves the step's process group; the output pipe it holds must not block run()."""
    import threading

    from tests.integration.sandbox.test_signals import processes_with

    token = "4242"
    result: list[tuple[int, Captured]] = []
    worker = threading.Thread(
        target=lambda: result.append(
            sh(root, f"setsid sleep {token}1 & echo bye", isolation="chroot")
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)
    try:
        assert result and result[0][0] == 0 and result[0][1].lines == ["bye"]
    finally:
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)


def test_long_output_without_newlines_comes_in_bounded_pieces(root: Path):
    code, out = sh(root, "head -c 300000 /dev/zero | tr '\\0' a; echo; echo end")
    assert code == 0
    assert [len(line) for line in out.lines] == [65536] * 4 + [300000 - 4 * 65536, 3]


def test_steps_run_concurrently_from_threads(busybox_rootfs):
    """Platforms build in parallel: each run() in its own thread, own root, own output."""
    from concurrent.futures import ThreadPoolExecutor

    roots = [busybox_rootfs("arm64") for _ in range(4)]

    def step(i: int) -> tuple[int, list[str]]:
        out = Captured()
        script = f"echo {i} > /tmp/me; cat /tmp/me"
        code = run(RunSpec(root=roots[i], argv=("/bin/sh", "-c", script),
                           env=(PATH,), platform=parse_platform("linux/arm64")),
                   "namespace", out)  # fmt: skip
        return code, out.lines

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(step, range(4)))
    assert results == [(0, [str(i)]) for i in range(4)]


def test_a_root_with_nothing_but_a_binary(tmp_path: Path):
    """FROM scratch + COPY of a static binary: every mount point is a stub, all removed."""
    root = tmp_path / "scratch"
    (root / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "bin/busybox")
    before = tree_state(root)
    out = Captured()
    spec = RunSpec(root=root, argv=("/bin/busybox", "sh", "-c", "/bin/busybox cat /etc/hosts"))
    assert run(spec, "namespace", out) == 0
    assert out.lines[0].startswith("127.0.0.1\tlocalhost")
    assert tree_state(root) == before
