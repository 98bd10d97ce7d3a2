"""The `multiarch` command: the start-up boundary. It resolves the subcommand from a table and
imports only that command's module; `--help` and `--version` import no command at all."""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys

import click

from builder.errors import MultiarchError
from builder.pool import shared_connections
from multiarch import __version__

# name -> "module:attribute"; each module owns its command.
SUBCOMMANDS: dict[str, str] = {
    "executor": "builder.cli:executor",
    "manifest": "multiarch.manifest:manifest",
    "copy": "multiarch.copy:copy",
    "qemu": "builder.sandbox.cli:qemu",
    "cache": "builder.store.cli:cache",
    "build": "multiarch.build_command:build",
    "spec": "multiarch.spec:spec_command",
    "ci": "multiarch.runners.gitlab:ci",
    "verify": "multiarch.verify:verify",
}
# name -> the first line of its help, for `multiarch --help` without importing every command
# (tests/unit/test_startup.py checks it against the commands' own docstrings).
SHORT_HELP: dict[str, str] = {
    "build": "Build a multi-arch image from SPEC.yaml, or from flags and a CONTEXT directory "
    "(`multiarch build --platform linux/amd64,linux/arm64 -t REG/IMG:TAG .`).",
    "cache": "Manage the local blob and layer cache.",
    "ci": "CI integration: pipelines generated from a build spec.",
    "copy": "Copy SOURCE to DESTINATION, moving only the blobs the destination lacks.",
    "executor": "Build an image from a Dockerfile without a daemon (kaniko-compatible flags).",
    "manifest": "Assemble, push and inspect multi-platform indexes (manifest-tool compatible).",
    "qemu": "Register and list QEMU emulators for foreign-architecture RUN steps.",
    "spec": "The YAML specs: JSON Schema for editors, validation.",
    "verify": "Verify the signed attestations of every platform of IMAGE (docker://REF or "
    "oci:DIR).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [
            (name, click.Command(name, help=SHORT_HELP[name]).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                return None  # not built yet
            raise
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="MULTIARCH_DEBUG", help="Show tracebacks.")
@click.version_option(version=__version__, prog_name="multiarch")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Build container images for several architectures without a daemon."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    # Lazy: logging (~8 ms) is set up when a command runs; --version and --help skip it.
    from builder.log import setup_logging

    setup_logging("debug" if debug else "info")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job): unwinds like Ctrl-C, so mounts and temp dirs are cleaned."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> None:
    """The `multiarch` command; the process is expected to exit after it."""
    try:
        _run(argv)
    finally:
        # The interpreter's last collection walks every object the command imported (the
        # models, schemas and clients: ~30 ms of a `manifest push`); frozen ones it skips.
        # Module teardown, atexit handlers and refcount-freed objects are unaffected.
        gc.freeze()


def _run(argv: list[str] | None) -> None:
    debug = "--debug" in (argv or sys.argv[1:]) or bool(os.environ.get("MULTIARCH_DEBUG"))
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with shared_connections():
            cli.main(args=argv, prog_name="multiarch", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(2 if isinstance(err, click.UsageError) else 1)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except MultiarchError as err:
        # Lazy: the error path only (see setup_logging above).
        from builder.log import redact

        if debug:
            # Lazy: only --debug prints a traceback.
            import traceback

            traceback.print_exc()
        click.echo(redact(f"error: {err.message}"), err=True)
        if err.hint:
            click.echo(redact(f"hint: {err.hint}"), err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt as err:
        terminated = isinstance(err, Terminated)
        click.echo("error: terminated" if terminated else "error: interrupted", err=True)
        sys.exit(143 if terminated else 130)


if __name__ == "__main__":
    main()
