"""The sandbox helper: a single-threaded process that forks one worker per RUN step.

Started once per builder process as `python -I -S helper.py serve FD` (see server.py);
standard library only, so it starts fast and never imports the builder. FD is a
SOCK_SEQPACKET socket: each datagram names a request kind and carries the pipe ends for it.
"run" brings (request, output, status): the worker reads the request as JSON from the first,
runs the step with its stdout/stderr on the second, writes `{"pid": N}` first, setup failures
as `{"error": ...}` and finally `{"exit": CODE}` (128+N when killed by signal N) as JSON
lines on the third. "probe" brings (status): the worker reports which isolation modes work.
EOF on the socket (the builder closed it or died) stops the helper and its workers.

proot mode (no mounts, no namespaces: an unprivileged container): the step runs under PRoot,
which translates paths by ptrace, so it sees the root plus the container's /proc, /dev and /sys;
a root step's apt runs its methods as root (see APT_AS_ROOT).

chroot mode: a plain chroot. Where mounting is permitted (the builder's probe says so) the
worker first unshares its mount namespace and gives the root the container's /proc (bound)
and namespace mode's minimal /dev, which vanish with the worker; otherwise /dev gets device
nodes where mknod is permitted, and there is no /proc.

namespace mode: the worker unshares mount/pid/ipc/uts namespaces, prepares the mounts under
the root, and forks the step, which becomes PID 1 of the new pid namespace, mounts /proc,
pivots into the root in a nested mount namespace, drops capabilities and execs. All mounts
live in private namespaces, so they vanish with them: nothing can leak onto the host and
teardown never walks a path the step could have redirected. Mount points the image lacked
are created as stubs and removed afterwards from inside a chroot of the root, checked by
inode, so a step that swaps them for symlinks cannot make us delete host files.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import stat
import sys
from typing import Any, NamedTuple

Request = dict[str, Any]
"""The step as the parent sent it (JSON)."""
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
SETUP_FAILED = 125
# glibc has no pivot_root wrapper; syscall numbers per host machine.
PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
# Docker's default capability set; everything else leaves the bounding set before exec.
KEPT_CAPS = {0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31}  # chown dac_override fowner
# fsetid kill setgid setuid setpcap net_bind_service net_raw sys_chroot mknod audit_write setfcap
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
PROC_MASKED = ("kcore", "keys", "timer_list", "sched_debug", "latency_stats")
REFUSED_CWD_PREFIXES = ("/proc", "/sys", "/dev")
STAGING_PREFIX = "multiarch-sandbox-"
TEMP_DIRS = ("/tmp", "/var/tmp", "/usr/tmp")
# A process that leaves the tracer's uid (apt's download methods as _apt) becomes
# non-dumpable: without CAP_SYS_PTRACE (any unprivileged container) PRoot can no longer
# read or write its memory, and apt waits forever for a method that never starts; with it,
# the method cannot execute PRoot's owner-only loader. A root step's apt stays root instead,
# through a drop-in that exists for the step only (a stub: removed before the snapshot).
APT_CONF_DIR = "etc/apt/apt.conf.d"
APT_AS_ROOT = ("00multiarch-proot-sandbox", b'APT::Sandbox::User "root";\n')
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}

libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    pass


def check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source or fstype} on {target}",
    )


def umount(target: str) -> None:
    libc.umount2(target.encode(), MNT_DETACH)


def unshare(flags: int) -> None:
    check(libc.unshare(flags), "unshare")


def set_parent_death_signal(sig: int, parent: int) -> None:
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(SETUP_FAILED)


# --- paths inside the root ---------------------------------------------------------------


def secure_join(root: str, path: str) -> str:
    """`path` resolved inside `root` like a chroot would (symlinks can't leave `root`)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise SetupError(f"too many symlinks resolving {path}")
            link = os.readlink(candidate)
            if link.startswith("/"):
                resolved = []
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def staging_dir() -> str:
    """A new private directory where tempfile's mkdtemp would make it (the helper's env has
    no TMPDIR), without importing tempfile: that costs the helper and each fork 1.5 MB RSS."""
    for parent in TEMP_DIRS:
        for _ in range(100):
            path = os.path.join(parent, STAGING_PREFIX + os.urandom(8).hex())
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError:
                break  # missing or not writable: the next candidate
            return path
    raise SetupError(f"cannot create a staging directory in any of {', '.join(TEMP_DIRS)}")


class Stub(NamedTuple):
    path: str  # inside the root
    ino: int
    kind: str  # "dir" | "file" | "device"
    size: int


class Stubs:
    """Mount points created in the root for this step; removed afterwards, leaving no trace:
    the directories they were created in get their times back unless the step changed them."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"
        self.created: list[Stub] = []
        # parent inside the root -> ((atime, mtime) before we touched it, mtime after)
        self.parents: dict[str, tuple[tuple[int, int], int]] = {}

    def ensure(self, target: str, kind: str, content: bytes = b"", device: int = 0) -> str:
        """Host path of `target` inside the root, created (with parents) if missing."""
        host_path = secure_join(self.root, target)
        if os.path.lexists(host_path):
            return host_path
        parent = os.path.dirname(host_path)
        if not os.path.lexists(parent):
            self.ensure(os.path.relpath(parent, self.root), "dir")
        before = os.stat(parent)
        if kind == "dir":
            os.mkdir(host_path, 0o755)
        elif kind == "device":
            os.mknod(host_path, stat.S_IFCHR, device)
            os.chmod(host_path, 0o666)
        else:
            fd = os.open(host_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.write(fd, content)
            os.close(fd)
        inside_parent = self._inside(parent)
        original = self.parents.get(inside_parent, ((before.st_atime_ns, before.st_mtime_ns), 0))[0]
        self.parents[inside_parent] = (original, os.stat(parent).st_mtime_ns)
        inode = os.lstat(host_path).st_ino
        self.created.append(Stub(self._inside(host_path), inode, kind, len(content)))
        return host_path

    def _inside(self, host_path: str) -> str:
        return os.path.normpath("/" + os.path.relpath(host_path, self.root))

    def remove_inside_chroot(self) -> None:
        """Call after chroot(root): absolute symlinks now resolve inside the root."""
        untouched = [
            (parent, times)
            for parent, (times, mtime_after) in self.parents.items()
            if _mtime(parent) == mtime_after
        ]
        for stub in reversed(self.created):
            try:
                st = os.lstat(stub.path)
                if st.st_ino != stub.ino or _kind(st.st_mode) != stub.kind:
                    continue  # replaced by the step: its content now, not ours
                if stub.kind == "dir":
                    os.rmdir(stub.path)
                elif stub.kind == "device" or st.st_size == stub.size:
                    os.unlink(stub.path)
            except OSError:
                continue  # the step changed it (non-empty dir, gone): leave it
        for parent, times in untouched:
            try:
                os.utime(parent, ns=times, follow_symlinks=False)
            except OSError:
                continue  # a stub itself, removed above


def _mtime(path: str) -> int | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_mtime_ns if stat.S_ISDIR(st.st_mode) else None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISCHR(mode):
        return "device"
    return "file" if stat.S_ISREG(mode) else "other"


def open_path(path: str) -> int:
    """An O_PATH fd of `path` itself (a final symlink is not followed)."""
    return os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)


def mount_at(
    source: str | None, target: str, fstype: str | None, flags: int, data: str = ""
) -> None:
    """Mount onto the object `target` names now, via its fd, so a swap can't redirect us."""
    fd = open_path(target)
    try:
        mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    finally:
        os.close(fd)


def bind(source: str, target: str, readonly: bool) -> None:
    src_fd = open_path(source)
    try:
        # A cache dir swapped for a symlink must not bind whatever it points to
        # (BuildKit CVE-2024-23651).
        if stat.S_ISLNK(os.fstat(src_fd).st_mode):
            raise SetupError(f"mount source {source} is a symbolic link: refused")
        mount_at(f"/proc/self/fd/{src_fd}", target, None, MS_BIND | MS_REC)
    finally:
        os.close(src_fd)
    if readonly:
        mount_at(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


# --- namespace mode setup ------------------------------------------------------------------


def mount_dev(dev: str) -> None:
    """A fresh tmpfs with the host's harmless devices bound in, a private devpts, /dev/shm."""
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=65536k")
    for name in DEVICES:
        node = os.path.join(dev, name)
        os.close(os.open(node, os.O_CREAT | os.O_WRONLY, 0o666))
        mount(f"/dev/{name}", node, None, MS_BIND)
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=0620")  # fmt: skip
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    mount("shm", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
          "mode=1777,size=65536k")  # fmt: skip
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, os.path.join(dev, name))


def loopback_up() -> None:
    # Lazy: only a step with its own network namespace needs these; the helper starts per RUN.
    import fcntl
    import socket
    import struct

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def prepare_namespace(req: Request, stubs: Stubs, detach: list[str]) -> None:
    root = req["root"]
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if req["network"] == "none":
        flags |= CLONE_NEWNET
    unshare(flags)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    hostname = req["hostname"].encode()
    check(libc.sethostname(hostname, len(hostname)), "sethostname")
    if req["network"] == "none":
        loopback_up()

    staging = staging_dir()
    detach.append(staging)
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=700,size=1m")
    for name in ("resolv.conf", "hosts"):
        with open(os.path.join(staging, name), "w") as f:
            f.write(req[name.replace(".", "_")])

    # Stubs first (on the real root), then the root's self-bind (pivot_root needs a mount
    # point; nodev makes device nodes the step creates unusable) and mounts on top of it.
    targets = [(m, m["type"] == "tmpfs" or os.path.isdir(m["source"])) for m in req["mounts"]]
    for name in ("proc", "sys", "dev"):
        stubs.ensure(name, "dir")
    resolv, hosts = stubs.ensure("etc/resolv.conf", "file"), stubs.ensure("etc/hosts", "file")
    for m, is_dir in targets:
        stubs.ensure(m["target"], "dir" if is_dir else "file")

    mount(root, root, None, MS_BIND | MS_REC)
    detach.append(root)
    mount(None, root, None, MS_REMOUNT | MS_BIND | MS_NODEV)
    mount_dev(secure_join(root, "dev"))
    mount_at("sysfs", secure_join(root, "sys"), "sysfs",
             MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)  # fmt: skip
    bind(os.path.join(staging, "resolv.conf"), resolv, False)
    bind(os.path.join(staging, "hosts"), hosts, False)
    for m, _ in targets:
        target = secure_join(root, m["target"])
        if m["type"] == "bind":
            bind(m["source"], target, m["readonly"])
        else:
            size = f",size={m['size']}" if m["size"] else ""
            mount_at("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" + size)


def mount_proc(root: str) -> None:
    proc = secure_join(root, "proc")
    mount_at("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READONLY:
        path = os.path.join(proc, name)
        if os.path.exists(path):
            mount(path, path, None, MS_BIND | MS_REC)
            mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for name in PROC_MASKED:
        path = os.path.join(proc, name)
        if os.path.isfile(path):
            mount("/dev/null", path, None, MS_BIND)


def enter_root(root: str) -> None:
    """pivot_root into `root` (a mount point) and detach the old root: unreachable after."""
    os.chdir(root)
    number = PIVOT_ROOT_SYSCALL.get(os.uname().machine)
    if number is None or libc.syscall(number, b".", b".") != 0:
        os.chroot(".")
    else:
        umount(".")
    os.chdir("/")


# --- the step ------------------------------------------------------------------------------


def last_capability() -> int:
    """Read before entering the root: a chroot has no /proc."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 63


def drop_capabilities(last: int) -> None:
    for cap in range(last + 1):
        if cap not in KEPT_CAPS and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() != errno.EINVAL:
                return  # not permitted here (no CAP_SETPCAP): nothing stronger to do


def enter_cwd(cwd: str, uid: int, gid: int) -> None:
    """chdir to `cwd` resolved inside the (new) root; never into /proc, /sys or /dev.
    Missing directories are created for the step's user, as BuildKit does for WORKDIR."""
    literal = os.path.normpath("/" + cwd.lstrip("/"))
    resolved = os.path.realpath(literal)
    for path in (literal, resolved):
        top = "/" + path.split("/")[1]
        if top in REFUSED_CWD_PREFIXES:
            raise SetupError(f"working directory {cwd} is inside {top}: refused")
    if not os.path.isdir(resolved):
        path = "/"
        for part in resolved.strip("/").split("/"):
            path = os.path.join(path, part)
            if not os.path.lexists(path):
                os.mkdir(path, 0o755)
                os.chown(path, uid, gid)
    os.chdir(resolved)
    if os.getcwd() != resolved:
        raise SetupError(f"working directory {cwd} resolves outside the root: refused")


def exec_step(req: Request, status_fd: int, last_cap: int, *, cwd_ready: bool = False) -> None:
    """Runs in the forked child, already inside its root. Never returns."""
    try:
        if not cwd_ready:
            enter_cwd(req["cwd"], req["uid"], req["gid"])
        drop_capabilities(last_cap)
        # Only change what differs, so a rootless `none` step as the builder's own user works.
        if sorted(os.getgroups()) != sorted(req["extra_gids"]):
            os.setgroups(req["extra_gids"])
        if os.getgid() != req["gid"] or os.getegid() != req["gid"]:
            os.setgid(req["gid"])
        if os.getuid() != req["uid"] or os.geteuid() != req["uid"]:
            os.setuid(req["uid"])
        # A credential change clears the parent-death signal; set it again.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.umask(0o022)
        os.closerange(3, status_fd)
        os.closerange(status_fd + 1, 1 << 20)
    except (OSError, SetupError) as err:
        report(status_fd, f"preparing the step: {err}")
        os._exit(SETUP_FAILED)
    env = dict(item.split("=", 1) if "=" in item else (item, "") for item in req["env"])
    argv = req["argv"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as err:
        os.write(2, f"exec {argv[0]}: {err.strerror}\n".encode())
        os._exit(127 if err.errno == errno.ENOENT else 126)


def report(status_fd: int, message: str) -> None:
    os.write(status_fd, (json.dumps({"error": message}) + "\n").encode())


# --- the helper's main line ------------------------------------------------------------------


def wait_exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def probe(status_fd: int) -> int:
    """What this process may do: each mode maps to None (works) or the reason it fails.
    namespace is tried as a step needs it: unshare, then /proc mounted by PID 1 of the new
    pid namespace (some containers allow the first but not the second)."""
    found: dict[str, str | None] = {}
    try:
        os.chroot("/")
        found["chroot"] = None
    except OSError as err:
        found["chroot"] = f"chroot: {err.strerror}"
    target = staging_dir()
    try:
        os.mknod(os.path.join(target, "null"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
        os.unlink(os.path.join(target, "null"))
        found["mknod"] = None
    except OSError as err:
        found["mknod"] = f"mknod: {err.strerror}"
    found["mount"] = "not tried"
    try:
        unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k")
        found["mount"] = None
        os.mkdir(os.path.join(target, "proc"))
        child = os.fork()
        if child == 0:
            try:
                proc = os.path.join(target, "proc")
                mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except SetupError:
                os._exit(ctypes.get_errno() or 1)  # the reason, as the exit code
            os._exit(0)
        code = wait_exit_code(child)
        found["namespace"] = f"mount proc: {os.strerror(code)}" if code else None
        umount(target)
    except SetupError as err:
        found["namespace"] = str(err)
        found["mount"] = found["mount"] and str(err)
    finally:
        os.rmdir(target)
    os.write(status_fd, (json.dumps({"probe": found}) + "\n").encode())
    return 0


def serve(control_fd: int) -> int:
    """Fork a worker per datagram on `control_fd` until it reports EOF (the builder is gone)."""
    os.set_inheritable(control_fd, False)
    control = socket.socket(fileno=control_fd)
    server_pid = os.getpid()
    workers: set[int] = set()

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while True:
            reap(workers)
            kind, fds, _, _ = socket.recv_fds(control, 64, 3)
            if not kind:
                return 0
            # The worker must not run this loop's stop handler: it installs its own first.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            pid = os.fork()
            if pid == 0:
                control.close()
                code = SETUP_FAILED
                try:
                    code = work(kind.decode(), fds, server_pid)
                except BaseException:  # noqa: BLE001 (the fork must never return into the loop)
                    sys.excepthook(*sys.exc_info())  # to the step's output: a bug in here
                finally:
                    os._exit(code)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            workers.add(pid)
            for fd in fds:
                os.close(fd)
    finally:
        reap(workers)  # those done are waited for, so their CPU time counts as ours
        for pid in workers:  # the builder is gone: each worker kills its step and unmounts
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def reap(workers: set[int]) -> None:
    for pid in list(workers):
        if os.waitpid(pid, os.WNOHANG)[0]:
            workers.discard(pid)


def work(kind: str, fds: list[int], server_pid: int) -> int:
    """The forked worker: one request. STOP_SIGNALS are blocked until its handlers are set."""
    set_parent_death_signal(signal.SIGTERM, server_pid)
    for fd in fds:
        os.set_inheritable(fd, False)  # the step must not get them
    if kind == "probe" and len(fds) == 1:
        return probe(fds[0])
    if kind != "run" or len(fds) != 3:
        return SETUP_FAILED
    request_fd, output_fd, status_fd = fds
    os.write(status_fd, (json.dumps({"pid": os.getpid()}) + "\n").encode())
    with open(request_fd, "rb") as request:
        req = json.load(request)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    code = run_step(req, status_fd)
    os.write(status_fd, (json.dumps({"exit": code}) + "\n").encode())
    return code


def run_step(req: Request, status_fd: int) -> int:
    mode, root = req["mode"], req["root"]
    stubs = Stubs(root)
    detach: list[str] = []  # our own top-level mounts, for teardown
    child = 0
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child:
            kill_step(child, mode)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    code = SETUP_FAILED
    try:
        if mode == "namespace":
            prepare_namespace(req, stubs, detach)
        elif mode == "chroot":
            prepare_chroot(req, stubs, detach)
        elif mode == "proot":
            prepare_proot(req, stubs)
        worker_pid = os.getpid()
        # No stop signal may fall between the check and knowing the child's pid.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        if stopping:
            return code
        child = os.fork()
        if child == 0:
            enter_and_exec(req, status_fd, 0 if mode == "namespace" else worker_pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        code = wait_exit_code(child)
        if mode != "namespace":
            kill_step(child, mode)  # whatever the step left running in the background
    except (OSError, SetupError) as err:
        report(status_fd, f"setting up the {mode} sandbox: {err}")
    finally:
        teardown(root, detach, stubs)
    return code


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.stderr.write("usage: helper.py serve CONTROL_FD\n")
        return 2
    return serve(int(sys.argv[2]))


def kill_step(child: int, mode: str) -> None:
    """namespace: the step is PID 1 of its pid namespace, and killing it kills all in it.
    Otherwise the step leads its own process group."""
    for target in ((child,) if mode == "namespace" else (-child, child)):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


def enter_and_exec(req: Request, status_fd: int, expected_parent: int) -> None:
    """The forked step process. Never returns."""
    root = req["root"]
    last_cap = last_capability()
    for sig in (*STOP_SIGNALS, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        set_parent_death_signal(signal.SIGKILL, expected_parent)
        if req["mode"] == "namespace":
            unshare(CLONE_NEWNS)  # pivot_root must not move the helper's root too
            mount_proc(root)
            enter_root(root)
        else:
            os.setpgid(0, 0)
            if req["mode"] == "chroot":
                os.chroot(root)
                os.chdir("/")
    except (OSError, SetupError) as err:
        report(status_fd, f"entering the root: {err}")
        os._exit(SETUP_FAILED)
    if req["mode"] == "proot":
        proot_step(req, status_fd, last_cap)
    exec_step(req, status_fd, last_cap)


def teardown(root: str, detach: list[str], stubs: Stubs) -> None:
    for target in reversed(detach):
        umount(target)  # recursive: whatever was mounted on it goes too
        if os.path.basename(target).startswith(STAGING_PREFIX):
            os.rmdir(target)
    if stubs.created:
        os.chroot(root)
        os.chdir("/")
        stubs.remove_inside_chroot()


def prepare_proot(req: Request, stubs: Stubs) -> None:
    """resolv.conf and hosts as files (PRoot binds /proc, /dev and /sys itself); apt kept
    from dropping to its _apt user in a root step (`APT_AS_ROOT`); the working directory
    made inside the root by a chrooted child, with enter_cwd's checks."""
    for name in ("resolv.conf", "hosts"):
        stubs.ensure("etc/" + name, "file", req[name.replace(".", "_")].encode())
    if req["uid"] == 0 and os.path.isdir(secure_join(req["root"], APT_CONF_DIR)):
        stubs.ensure(f"{APT_CONF_DIR}/{APT_AS_ROOT[0]}", "file", APT_AS_ROOT[1])
    for name in ("proc", "dev", "sys"):
        stubs.ensure(name, "dir")
    if req["emulator"]:  # PRoot binds /dev/null there for QEMU; made by us, it leaves no trace
        stubs.ensure("etc/ld.so.preload", "file")
    for m in req["mounts"]:
        stubs.ensure(m["target"], "dir" if os.path.isdir(m["source"]) else "file")
    child = os.fork()
    if child == 0:
        try:
            os.chroot(req["root"])
            enter_cwd(req["cwd"], req["uid"], req["gid"])
        except (OSError, SetupError) as err:
            os.write(2, f"{err}\n".encode())
            os._exit(SETUP_FAILED)
        os._exit(0)
    if wait_exit_code(child) != 0:
        raise SetupError(f"cannot enter the working directory {req['cwd']}")


def proot_step(req: Request, status_fd: int, last_cap: int) -> None:
    """exec PRoot with the step's command: `-r` the root, the container's /proc, /dev and
    /sys bound in, RUN --mount binds as `-b`, `-q` the static emulator of a foreign root."""
    argv = [req["proot"], "-r", req["root"], "-w", req["cwd"] or "/"]
    for path in ("/proc", "/dev", "/sys"):
        argv += ["-b", path]
    for m in req["mounts"]:
        argv += ["-b", f"{m['source']}:{m['target']}"]
    if req["emulator"]:
        argv += ["-q", req["emulator"]]
    req = {**req, "argv": argv + req["argv"]}
    os.chdir("/")
    exec_step(req, status_fd, last_cap, cwd_ready=True)


def prepare_chroot(req: Request, stubs: Stubs, detach: list[str]) -> None:
    """Plain files give resolv.conf and hosts. Where mounting is permitted, the container's
    /proc is bound in and /dev is namespace mode's minimal tmpfs, in a mount namespace of
    this worker (they vanish with it); otherwise device nodes give /dev where mknod is."""
    for name in ("resolv.conf", "hosts"):
        stubs.ensure("etc/" + name, "file", req[name.replace(".", "_")].encode())
    if req["kernel_mounts"]:
        unshare(CLONE_NEWNS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        proc, dev = stubs.ensure("proc", "dir"), stubs.ensure("dev", "dir")
        mount_at("/proc", proc, None, MS_BIND | MS_REC)
        detach.append(proc)
        mount_dev(dev)
        detach.append(dev)
        return
    dev = secure_join(req["root"], "dev")
    if os.path.lexists(dev) and not os.path.isdir(dev):
        return
    for name in DEVICES:
        host_device = os.stat(f"/dev/{name}")
        try:
            stubs.ensure(f"dev/{name}", "device", device=host_device.st_rdev)
        except PermissionError:
            return  # no CAP_MKNOD here: the step runs without device nodes


if __name__ == "__main__":
    sys.exit(main())
