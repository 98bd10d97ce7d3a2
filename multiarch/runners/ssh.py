"""The ssh runner: `multiarch executor` on a remote host through the system `ssh` client, so
~/.ssh/config, agents and known_hosts apply as they do for the user.

First `uname -m` on the host must name the platform's architecture (we never build arm64 on
an amd64 host by accident). Then the build context goes to the host as a tar stream on
stdin (`--context tar://stdin`), the Dockerfile inside the command line, and the host
answers on stdout with a tar holding the executor's JSON result. When the spec names a
registry image, the host pushes its image there by digest only (`--push-by-digest`: the
host needs the registry's login, no tag is left behind) and the coordinator publishes it
from there with every other platform; otherwise the tar also holds the image as an OCI layout.

A signing key (`--sign-key`) travels on the same stdin, ahead of the context: the remote
shell reads exactly its length into the job's 0700 temporary directory, the executor reads it
from there, and the directory is removed when the job ends. The key is never on a command
line (the remote `ps` shows those) nor in a variable of the remote environment.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import subprocess
import tarfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from builder.errors import BuildError, LayerError, PlatformError, UsageError
from builder.events import EventSink, event_from_json
from builder.fs import unpack_tar
from builder.log import redact
from builder.oci.platform import format_platform, host_platform, normalize_arch, platform_matches
from multiarch.plan import BuildPlan, PlatformJob
from multiarch.runners import JobResult, built_image, read_report
from multiarch.spec import SecretSpec, SSHRunner, SSHSettings

REMOTE_DOCKERFILE = "Dockerfile.multiarch"
REMOTE_KEY = "sign-key.pem"


def ssh_command(runner: SSHRunner, settings: SSHSettings) -> list[str]:
    argv = ["ssh", "-o", "BatchMode=yes"]
    if settings.config_file:
        argv += ["-F", str(settings.config_file)]
    if runner.port:
        argv += ["-p", str(runner.port)]
    for option in settings.options:
        argv += ["-o", option]
    return argv + [runner.destination, "--"]


def remote_machine(runner: SSHRunner, settings: SSHSettings) -> str:
    result = subprocess.run(
        ssh_command(runner, settings) + ["uname -m"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise BuildError(f"ssh to {runner} failed: {_last_line(result.stderr)}")
    return result.stdout.strip()


def check_architecture(job: PlatformJob, machine: str) -> None:
    arch, variant = normalize_arch(machine, None)
    have = host_platform().model_copy(
        update={"os": "linux", "architecture": arch, "variant": variant}
    )
    if not platform_matches(have, job.platform):
        raise PlatformError(
            f"{job.name}: the ssh host {job.runner} is {format_platform(have)} ({machine}), "
            f"it cannot build {job.name} natively",
            hint="point the platform at a host of that architecture, "
            "or use the local runner (QEMU)",
        )


class Quoted(str):
    """A word of the remote command that is already quoted for its shell."""


def remote_script(plan: BuildPlan, job: PlatformJob, handed: Sequence[HandedFile] = ()) -> str:
    """The remote shell's script; the `handed` files' bytes come first on stdin, in order."""
    settings = plan.spec.ssh
    dockerfile = base64.b64encode(job.dockerfile.read_bytes()).decode()
    flags = plan.flags_for(
        job,
        context="tar://stdin",
        dockerfile=Quoted(f'"$d"/{REMOTE_DOCKERFILE}'),
        local_path=_not_sent,
        secret_flag=lambda secret: Quoted(
            shlex.quote(f"id={secret.id},src=") + f'"$d"/{_secret_file(secret.id)}'
        ),
    )
    # dd with bs=1 reads exactly each file's bytes from the pipe, leaving the tar to the
    # executor
    take = "".join(
        f'dd bs=1 count={len(item.data)} of="$d"/{item.name} 2>/dev/null; ' for item in handed
    )
    if any(item.name == REMOTE_KEY for item in handed):
        flags += ["--sign-key", Quoted(f'"$d"/{REMOTE_KEY}')]
    repository = plan.push_repository()
    if repository is not None:
        flags += ["--push-by-digest", str(repository)]
    else:
        flags += ["--no-push", "--oci-layout-path", Quoted('"$d"/oci')]
    quoted = " ".join(a if isinstance(a, Quoted) else shlex.quote(a) for a in flags)
    returned = "result.json" if repository is not None else "oci result.json"
    return (
        "set -e; umask 077; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; "
        f'{take}echo {dockerfile} | base64 -d > "$d"/{REMOTE_DOCKERFILE}; '
        f"{settings.executor} executor {quoted} "
        '--json-result "$d"/result.json --progress json >&2; '
        f'tar -C "$d" -cf - {returned}'
    )


@dataclass(frozen=True)
class HandedFile:
    """A file the remote job reads from its private temp dir, sent ahead of the context."""

    name: str
    data: bytes


def handed_files(plan: BuildPlan) -> list[HandedFile]:
    """The signing key and each build secret's value, read here (a secret's variable or file
    is this host's, as with the local runner)."""
    files = []
    key = _signing_key_pem(plan.sign_key)
    if key:
        files.append(HandedFile(REMOTE_KEY, key))
    for secret in plan.spec.secrets:
        files.append(HandedFile(_secret_file(secret.id), _secret_value(secret)))
    return files


def _secret_file(secret_id: str) -> str:
    return "secret-" + hashlib.sha256(secret_id.encode()).hexdigest()[:16]


def _secret_value(secret: SecretSpec) -> bytes:
    if secret.env is not None:
        value = os.environ.get(secret.env)
        if value is None:
            raise UsageError(f"secret {secret.id}: environment variable {secret.env} is not set")
        return value.encode()
    assert secret.src is not None
    try:
        return secret.src.read_bytes()
    except OSError as err:
        raise UsageError(f"secret {secret.id}: cannot read {secret.src}: {err.strerror}") from None


def _not_sent(name: str, path: Path) -> str:
    raise UsageError(
        f"build context {name}={path}: an ssh runner receives only the main context",
        hint=f"use {name}=docker-image://REF, or the local runner for this platform",
    )


def _send_context(context: Path, stdin: IO[bytes], ahead: bytes) -> None:
    try:
        stdin.write(ahead)
        with tarfile.open(fileobj=stdin, mode="w|") as tar:
            for child in sorted(context.iterdir()):
                tar.add(child, arcname=child.name)
    except (BrokenPipeError, OSError):
        pass  # the remote side ended early; its exit status and stderr say why
    finally:
        try:
            stdin.close()
        except OSError:
            pass


def run_ssh(plan: BuildPlan, job: PlatformJob, workdir: Path, on_event: EventSink) -> JobResult:
    """Build `job`'s platform on its ssh host; the remote build's progress events go on to
    `on_event` as they come."""
    assert isinstance(job.runner, SSHRunner)
    settings = plan.spec.ssh
    started = time.monotonic()
    check_architecture(job, remote_machine(job.runner, settings))
    out_dir = workdir / job.slug
    out_dir.mkdir(parents=True)
    log_lines: list[str] = []
    handed = handed_files(plan)
    process = subprocess.Popen(
        ssh_command(job.runner, settings) + [remote_script(plan, job, handed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    sender = threading.Thread(
        target=_send_context,
        args=(plan.spec.context, process.stdin, b"".join(item.data for item in handed)),
        daemon=True,
    )
    relay = threading.Thread(
        target=_relay, args=(process.stderr, on_event, log_lines), daemon=True
    )
    sender.start()
    relay.start()
    broken: LayerError | None = None
    try:
        # Our own safe unpacker: names stay inside out_dir, links cannot leave it (and it
        # needs no tarfile `filter=`, which Debian 12's Python 3.11.2 lacks).
        unpack_tar(process.stdout, out_dir)
    except LayerError as err:
        broken = err  # usually the remote side failed; its exit status says so first
    finally:
        code = process.wait()
        sender.join()
        relay.join()
    if broken is not None and code == 0:
        raise BuildError(f"{job.name} on {job.runner}: its result stream is broken: {broken}")
    if code != 0 or not (out_dir / "result.json").is_file():
        last = log_lines[-1] if log_lines else "no output"
        raise BuildError(f"{job.name} on {job.runner} failed (exit {code}): {last}")
    report = read_report(out_dir / "result.json")
    image = built_image(plan.push_repository(), out_dir / "oci", report)
    return JobResult(job, report, image, time.monotonic() - started)


def _signing_key_pem(source: str | None) -> bytes:
    """The signing key to hand over (unencrypted PKCS#8: the remote host has no passphrase);
    empty when the build signs nothing."""
    if source is None:
        return b""
    # Lazy: securesystemslib and pyca/cryptography, for signing builds only.
    from builder.attest import load_signing_key

    return load_signing_key(source).pem()


def _relay(stream: IO[bytes], on_event: EventSink, log_lines: list[str]) -> None:
    """The remote stderr: progress events go on to `on_event`; the rest (log records, the
    final `error:` line) is kept, as text, for the error message."""
    for raw in stream:
        line = redact(raw.decode(errors="replace").rstrip("\n"))
        event = event_from_json(line)
        if event is not None:
            on_event(event)
        elif line.strip():
            log_lines.append(_log_text(line))


def _log_text(line: str) -> str:
    """A JSON log record's message (`--log-format json`), or the line as it is."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    message = record.get("msg") if isinstance(record, dict) else None
    return message if isinstance(message, str) else line


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
