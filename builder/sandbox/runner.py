"""run(spec): execute one RUN step in a worker of the sandbox helper, streaming its output."""

from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from builder.errors import SandboxError
from builder.sandbox import server
from builder.sandbox.isolation import chroot_mounts, probe, resolve_isolation
from builder.oci.platform import format_platform
from builder.sandbox.qemu import ensure_emulator, machine_of, runs_natively
from builder.sandbox.spec import BindMount, Isolation, RunSpec, TmpfsMount

OutputSink = Callable[[str], None]
_MAX_LINE = 64 * 1024  # longer runs without a newline are passed on in pieces
_STOP_GRACE_SECONDS = 10.0
_PID_WAIT_SECONDS = 10.0


def run(
    spec: RunSpec,
    isolation: Isolation | str = Isolation.AUTO,
    on_output: OutputSink | None = None,
) -> int:
    """Run `spec`; returns its exit code (128+N when killed by signal N).

    Combined stdout/stderr goes to `on_output` a line at a time (without the newline) as it
    comes. Raises SandboxError when the sandbox cannot be set up. When the caller is
    interrupted (KeyboardInterrupt, SystemExit from a signal handler) the step's whole
    process tree is killed and everything is unmounted before the exception propagates;
    if the builder dies outright, the helper notices (its socket closes) and does the same.
    """
    mode = resolve_isolation(isolation)
    _validate(spec, mode)
    if spec.platform is not None:
        ensure_emulator(spec.platform)
    request_read, request_write = os.pipe()
    output_read, output_write = os.pipe()
    status_read, status_write = os.pipe()
    try:
        server.submit("run", (request_read, output_write, status_write))
    except BaseException:
        for fd in (request_write, output_read, status_read):
            os.close(fd)
        raise
    finally:
        for fd in (request_read, output_write, status_write):
            os.close(fd)
    worker = _Worker()
    try:
        with open(request_write, "wb") as request:
            request.write(json.dumps(_request(spec, mode)).encode())
        _pump(output_read, status_read, worker, on_output or (lambda line: None))
    except BaseException:
        worker.stop(status_read)
        raise
    finally:
        os.close(status_read)
        os.close(output_read)
    if worker.errors:
        raise SandboxError(f"RUN sandbox ({mode.value}): {worker.errors[0]}")
    if worker.exit_code is None:
        raise SandboxError(f"RUN sandbox ({mode.value}): the helper ended without an exit code")
    return worker.exit_code


class _Worker:
    """What the helper's worker for this step said on its status pipe."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.errors: list[str] = []
        self.exit_code: int | None = None
        self.status = _Lines(self._line)

    def _line(self, line: bytes) -> None:
        if not line.strip():
            return
        message = json.loads(line)
        if "pid" in message:
            self.pid = message["pid"]
        elif "exit" in message:
            self.exit_code = message["exit"]
        else:
            self.errors.append(message["error"])

    def stop(self, status_fd: int) -> None:
        """Ask the worker to kill the step and tear down; kill it if it does not in time.
        Returns once its status pipe is closed (it has exited) or it was killed."""
        if self._read_until(status_fd, lambda: self.pid is not None, _PID_WAIT_SECONDS):
            return  # ended before it could be asked
        if self.pid is None:
            return
        _signal(self.pid, signal.SIGTERM)
        if not self._read_until(status_fd, lambda: False, _STOP_GRACE_SECONDS):
            _signal(self.pid, signal.SIGKILL)

    def _read_until(self, status_fd: int, done: Callable[[], bool], timeout: float) -> bool:
        """Feed status lines until `done()` or the timeout; True when the pipe reached EOF."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([status_fd], [], [], left)[0]:
                return False
            chunk = os.read(status_fd, 65536)
            if not chunk:
                return True
            self.status.feed(chunk)
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _validate(spec: RunSpec, mode: Isolation) -> None:
    if not spec.argv:
        raise SandboxError("nothing to run: empty command")
    if spec.network not in ("host", "none"):
        raise SandboxError(f"unknown network mode {spec.network!r}: use host or none")
    if mode is Isolation.CONTAINER_ROOT and spec.root != Path("/"):
        raise SandboxError(
            f"--isolation container-root runs steps in this container's own root, not in "
            f"{spec.root}"
        )
    if mode is not Isolation.NAMESPACE and spec.network == "none":
        raise SandboxError(f"network none needs --isolation namespace, not {mode.value}")
    if mode is Isolation.PROOT and any(isinstance(m, TmpfsMount) for m in spec.mounts):
        raise SandboxError(
            "RUN --mount=type=tmpfs needs mounting, which --isolation proot cannot do",
            hint="use --isolation namespace (root with CAP_SYS_ADMIN)",
        )
    if mode not in (Isolation.NAMESPACE, Isolation.PROOT) and spec.mounts:
        raise SandboxError(
            f"RUN --mount needs mounting, which --isolation {mode.value} cannot do",
            hint="use --isolation namespace (root with CAP_SYS_ADMIN)",
        )
    for mount in spec.mounts:
        if not mount.target.startswith("/"):
            raise SandboxError(f"mount target {mount.target!r} must be an absolute path")
        top = "/" + os.path.normpath(mount.target).lstrip("/").split("/")[0]
        if top in ("/", "/proc", "/sys", "/dev"):
            raise SandboxError(f"mount target {mount.target!r}: cannot mount over {top}")
        if isinstance(mount, BindMount) and not os.path.lexists(mount.source):
            raise SandboxError(f"mount source {mount.source} does not exist")
    if not spec.root.is_dir():
        raise SandboxError(f"the root {spec.root} is not a directory")


def _mount_request(mount: BindMount | TmpfsMount) -> dict[str, object]:
    if isinstance(mount, BindMount):
        return {"type": "bind", "source": str(mount.source), "target": mount.target,
                "readonly": mount.readonly}  # fmt: skip
    return {"type": "tmpfs", "target": mount.target, "size": mount.size}


def _request(spec: RunSpec, mode: Isolation) -> dict[str, object]:
    """The helper's input (JSON on its stdin, so env values never show in `ps`)."""
    return {
        "mode": mode.value,
        "root": str(spec.root.resolve()),
        "argv": list(spec.argv),
        "env": list(spec.env),
        "cwd": spec.cwd or "/",
        "uid": spec.uid,
        "gid": spec.gid,
        "extra_gids": list(spec.extra_gids),
        "mounts": [_mount_request(m) for m in spec.mounts],
        "hostname": spec.hostname,
        "network": spec.network,
        "resolv_conf": _host_resolv_conf(),
        "hosts": _hosts_file(spec.hostname, spec.extra_hosts),
        **(_proot_request(spec) if mode is Isolation.PROOT else {}),
        **({"kernel_mounts": chroot_mounts(probe())} if mode is Isolation.CHROOT else {}),
    }


def _proot_request(spec: RunSpec) -> dict[str, object]:
    """PRoot's path, and for a foreign root the static QEMU it runs the step with (PRoot
    does not go through binfmt_misc)."""
    proot = shutil.which("proot")
    if proot is None:
        raise SandboxError("--isolation proot needs PRoot", hint="apt-get install proot")
    if spec.uid != 0:
        _ensure_reachable(spec.root.resolve(), spec.uid)
    emulator = None
    if spec.platform is not None and not runs_natively(spec.platform):
        name = f"qemu-{machine_of(spec.platform).qemu_name}-static"
        emulator = shutil.which(name)
        if emulator is None:
            raise SandboxError(
                f"--isolation proot runs {format_platform(spec.platform)} steps with {name}, "
                "which is not installed here",
                hint="apt-get install qemu-user-static",
            )
    return {"proot": proot, "emulator": emulator}


def _ensure_reachable(root: Path, uid: int) -> None:
    """PRoot runs as the step's user, so that user must be able to reach the root's path."""
    for directory in (root, *root.parents):
        mode = directory.stat().st_mode
        if not mode & 0o001 and directory.stat().st_uid != uid:
            raise SandboxError(
                f"a RUN step as uid {uid} cannot reach the build root under --isolation proot: "
                f"{directory} is mode {mode & 0o777:o}",
                hint="keep the build cache where every user may pass (e.g. --cache-dir "
                "/var/cache/multiarch), or run the step as root",
            )


def _host_resolv_conf() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


def _hosts_file(hostname: str, extra: tuple[tuple[str, str], ...]) -> str:
    lines = [f"127.0.0.1\tlocalhost {hostname}", "::1\tlocalhost ip6-localhost ip6-loopback"]
    return "\n".join(lines + [f"{ip}\t{host}" for host, ip in extra]) + "\n"


class _Lines:
    """Splits a byte stream into lines for `sink`; overlong runs go out in pieces."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self.sink = sink
        self.rest = b""

    def feed(self, chunk: bytes) -> None:
        *lines, self.rest = (self.rest + chunk).split(b"\n")
        for line in lines:
            self._send(line)
        while len(self.rest) > _MAX_LINE:
            self.sink(self.rest[:_MAX_LINE])
            self.rest = self.rest[_MAX_LINE:]

    def close(self) -> None:
        if self.rest:
            self._send(self.rest)
        self.rest = b""

    def _send(self, line: bytes) -> None:
        while len(line) > _MAX_LINE:
            self.sink(line[:_MAX_LINE])
            line = line[_MAX_LINE:]
        self.sink(line)


def _pump(output_fd: int, status_fd: int, worker: _Worker, on_output: OutputSink) -> None:
    """Forward output lines until the worker is gone (its status pipe is closed)."""
    output = _Lines(lambda line: on_output(line.decode(errors="replace").removesuffix("\r")))
    with selectors.DefaultSelector() as selector:
        selector.register(output_fd, selectors.EVENT_READ, output)
        selector.register(status_fd, selectors.EVENT_READ, worker.status)
        while status_fd in selector.get_map():  # open until the worker exits
            for key, _ in selector.select():
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.feed(chunk)
                else:
                    selector.unregister(key.fd)
        worker.status.close()
    # The step has ended, so all it wrote is buffered in the pipe. A process that escaped
    # the kill (setsid in chroot mode) may still hold the pipe open: don't wait for it.
    os.set_blocking(output_fd, False)
    try:
        while chunk := os.read(output_fd, 65536):
            output.feed(chunk)
    except BlockingIOError:
        pass
    output.close()
