"""A RUN step must not reach the builder: its files, fds, environment, or the host via teardown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.errors import SandboxError
from builder.sandbox import BindMount, TmpfsMount
from tests.integration.sandbox.helpers import host_mounts_under, sh, tree_state


@pytest.fixture
def root(busybox_rootfs) -> Path:
    return busybox_rootfs("amd64")


@pytest.fixture
def builder_secret(tmp_path: Path) -> Path:
    """A credentials file where a builder keeps one, next to (outside) the build root."""
    state = tmp_path / "kaniko" / ".docker"
    state.mkdir(parents=True)
    config = state / "config.json"
    config.write_text('{"auths": {"r.example": {"auth": "c2VjcmV0LXRva2Vu"}}}')
    return config


@pytest.mark.parametrize("isolation", ["namespace", "chroot"])
def test_step_cannot_find_builder_files(root: Path, builder_secret: Path, isolation: str):
    code, out = sh(
        root,
        f"cat {builder_secret} ../kaniko/.docker/config.json /../../kaniko/.docker/config.json "
        "/proc/1/root/../kaniko/.docker/config.json 2>/dev/null; "
        "find / -path /proc -prune -o -path /sys -prune -o -name config.json -print; true",
        isolation=isolation,
    )
    assert (code, out.lines) == (0, [])


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _builder_files() -> set[str]:
    """What every fd of this process (the builder) refers to, by device and inode."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            found.add(_identity(os.fstat(int(name))))
        except OSError:
            pass  # the fd that listed the directory, closed by now
    return found


def test_no_builder_fd_leaks_into_the_step(root: Path, builder_secret: Path):
    """Compared by what the fds refer to, not by path: how the step names a file outside its
    root (its stdin, the builder's /dev/null) depends on where the builder itself runs."""
    leaked = os.open(builder_secret, os.O_RDONLY)
    os.set_inheritable(leaked, True)  # as a careless library might leave it
    try:
        builder_files = _builder_files()
        code, out = sh(root, 'for f in /proc/$$/fd/*; do echo ${f##*/} $(stat -Lc %d:%i $f); done')
    finally:
        os.close(leaked)
    assert code == 0, out.text
    step = dict(line.split() for line in out.lines)
    assert step["0"] == _identity(os.stat("/dev/null")), step  # the identities compare
    # Beyond its standard streams (and the shell's own dups of them), nothing the builder holds.
    standard = {step["0"], step["1"], step["2"]}
    assert {fd: f for fd, f in step.items() if f in builder_files - standard} == {}, step


@pytest.mark.parametrize(
    "workdir", ["/proc/self/fd/3", "/proc/self/cwd", "proc/self/fd/3", "/sys/kernel", "/dev/shm"]
)
def test_workdir_into_proc_is_refused(root: Path, workdir: str):
    """runc CVE-2024-21626: WORKDIR /proc/self/fd/N used a leaked host fd as the cwd."""
    with pytest.raises(SandboxError, match="refused"):
        sh(root, "pwd; ls ..", cwd=workdir)


def test_workdir_symlink_into_proc_is_refused(root: Path):
    (root / "work").symlink_to("/proc/self/fd/3")
    with pytest.raises(SandboxError, match="refused"):
        sh(root, "pwd", cwd="/work/")


def test_symlinks_in_the_image_cannot_redirect_mounts_to_the_host(root: Path, tmp_path: Path):
    """An image whose /etc or mount target is an absolute symlink to a host path."""
    host_dir = tmp_path / "host-etc"
    host_dir.mkdir()
    (host_dir / "hosts").write_text("host file\n")
    victim = tmp_path / "victim"
    victim.mkdir()
    (root / "etc").rename(root / "etc.real")
    (root / "etc").symlink_to(str(host_dir))
    (root / "cache").symlink_to(str(victim))
    code, out = sh(root, "cat /etc/hosts; touch /cache/x", mounts=(TmpfsMount("/cache"),))
    assert code == 0, out.text
    assert (host_dir / "hosts").read_text() == "host file\n"
    assert sorted(p.name for p in host_dir.iterdir()) == ["hosts"]
    assert list(victim.iterdir()) == []
    assert host_mounts_under(tmp_path) == []


def test_teardown_never_deletes_host_files_through_swapped_stubs(root: Path, tmp_path: Path):
    """BuildKit CVE-2024-23652: the step replaces the dirs holding mount stubs with symlinks
    to host paths; removing the stubs afterwards must not follow them."""
    host = tmp_path / "host"
    (host / "deep").mkdir(parents=True)
    (host / "secrets").mkdir()
    (host / "secrets" / "token").write_text("")
    source = tmp_path / "src"
    source.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("x")
    mounts = (BindMount(source, "/mnt/deep"), BindMount(secret, "/run/secrets/token"))
    code, out = sh(root, f"mv /mnt /mnt2 && ln -s {host} /mnt && mv /run /run2 && "
                   f"ln -s {host} /run", mounts=mounts)  # fmt: skip
    assert code == 0, out.text
    assert (host / "deep").is_dir() and (host / "secrets" / "token").is_file()
    assert host_mounts_under(tmp_path) == []


def test_step_cannot_change_kernel_settings_or_use_raw_devices(root: Path):
    code, out = sh(
        root,
        "echo '|/bin/sh' > /proc/sys/kernel/core_pattern || echo ro-proc; "
        "mknod /tmp/disk b 8 0 && (head -c1 /tmp/disk >/dev/null 2>&1 || echo nodev); "
        "mount -t tmpfs x /mnt 2>/dev/null || echo no-mount; rm -f /tmp/disk",
    )
    assert code == 0
    assert out.lines[-3:] == ["ro-proc", "nodev", "no-mount"] or \
        {"ro-proc", "nodev", "no-mount"} <= set(out.lines)  # fmt: skip


def test_failed_setup_leaves_the_root_untouched(root: Path, tmp_path: Path):
    before = tree_state(root)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (root / "mnt").mkdir()
    before = tree_state(root)
    with pytest.raises(SandboxError):
        sh(root, "true", cwd="/proc/self/fd/3", mounts=(BindMount(fifo, "/mnt/a/b"),))
    assert tree_state(root) == before
    assert host_mounts_under(root) == []


def test_a_mount_source_that_is_a_symlink_is_refused(root: Path, tmp_path: Path):
    """BuildKit CVE-2024-23651: a cache dir swapped for a symlink to a host path."""
    (tmp_path / "host-secrets").mkdir()
    cache = tmp_path / "cache-id"
    cache.symlink_to(tmp_path / "host-secrets")
    with pytest.raises(SandboxError, match="symbolic link: refused"):
        sh(root, "ls /cache", mounts=(BindMount(cache, "/cache"),))
    assert not (root / "cache").exists()


@pytest.mark.parametrize("target", ["/", "/proc/sys", "//dev", "/sys/../sys/x"])
def test_mounts_over_the_sandbox_system_dirs_are_refused(root: Path, target: str):
    with pytest.raises(SandboxError, match="cannot mount over"):
        sh(root, "true", mounts=(TmpfsMount(target),))
