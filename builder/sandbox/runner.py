"""run(spec): execute one RUN step in a sandbox helper, streaming its output line by line."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from builder.errors import SandboxError
from builder.sandbox.isolation import HELPER_ENV, helper_command, resolve_isolation
from builder.sandbox.qemu import ensure_emulator
from builder.sandbox.spec import BindMount, Isolation, RunSpec, TmpfsMount

OutputSink = Callable[[str], None]
_MAX_LINE = 64 * 1024  # longer runs without a newline are passed on in pieces
_STOP_GRACE_SECONDS = 10.0


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
    if the builder dies outright, the helper notices (parent-death signal) and does the same.
    """
    mode = resolve_isolation(isolation)
    _validate(spec, mode)
    if spec.platform is not None:
        ensure_emulator(spec.platform)
    status_read, status_write = os.pipe()
    try:
        proc = subprocess.Popen(
            helper_command(status_write),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(status_write,),
            env=HELPER_ENV,
            start_new_session=True,  # a terminal's ^C reaches the builder, not the step
        )
    except BaseException:
        os.close(status_read)
        raise
    finally:
        os.close(status_write)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(_request(spec, mode)).encode())
        proc.stdin.close()
        errors = _pump(proc.stdout.fileno(), status_read, on_output or (lambda line: None))
        code = proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        os.close(status_read)
        proc.stdout.close()
    if errors:
        raise SandboxError(f"RUN sandbox ({mode.value}): {errors[0]}")
    return code


def _validate(spec: RunSpec, mode: Isolation) -> None:
    if not spec.argv:
        raise SandboxError("nothing to run: empty command")
    if spec.network not in ("host", "none"):
        raise SandboxError(f"unknown network mode {spec.network!r}: use host or none")
    if mode is Isolation.NONE and spec.root != Path("/"):
        raise SandboxError(
            f"--isolation none runs steps in this container's own root, not in {spec.root}",
            hint="with isolation none the build root must be / (kaniko style)",
        )
    if mode is not Isolation.NAMESPACE and spec.network == "none":
        raise SandboxError(f"network none needs --isolation namespace, not {mode.value}")
    if mode is not Isolation.NAMESPACE and spec.mounts:
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
        "hosts": _hosts_file(spec.hostname),
        "parent_pid": os.getpid(),
    }


def _host_resolv_conf() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


def _hosts_file(hostname: str) -> str:
    return f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


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


def _pump(output_fd: int, status_fd: int, on_output: OutputSink) -> list[str]:
    """Forward output lines until the helper is gone; returns its setup errors."""
    errors: list[str] = []

    def error(line: bytes) -> None:
        if line.strip():
            errors.append(json.loads(line)["error"])

    output = _Lines(lambda line: on_output(line.decode(errors="replace").removesuffix("\r")))
    status = _Lines(error)
    with selectors.DefaultSelector() as selector:
        selector.register(output_fd, selectors.EVENT_READ, output)
        selector.register(status_fd, selectors.EVENT_READ, status)
        while status_fd in selector.get_map():  # open until the helper exits
            for key, _ in selector.select():
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.feed(chunk)
                else:
                    selector.unregister(key.fd)
        status.close()
    # The step has ended, so all it wrote is buffered in the pipe. A process that escaped
    # the kill (setsid in chroot mode) may still hold the pipe open: don't wait for it.
    os.set_blocking(output_fd, False)
    try:
        while chunk := os.read(output_fd, 65536):
            output.feed(chunk)
    except BlockingIOError:
        pass
    output.close()
    return errors


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask the helper to kill the step and tear down; kill it if it does not in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
