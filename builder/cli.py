"""`multiarch executor`: kaniko's executor flags, so CI jobs migrate by changing one word.

Flags become one `ExecutorOptions` value. `--check` parses the Dockerfile, resolves args and
stages for the platform and prints the outline (no network, no build); otherwise the build
runs through `builder.executor.run_executor(options)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder.errors import UsageError
from builder.option_choices import Compression, Isolation, LogFormat, Progress, SnapshotMode, Verbosity

if TYPE_CHECKING:  # pydantic models: imported when flags become options, not for --help
    from builder.options import ExecutorOptions, SecretSource

_FALSE = ("false", "0", "f", "no")
_TRUE = ("true", "1", "t", "yes")


class _GoBool(click.ParamType):
    """A kaniko (pflag) boolean: `--flag`, `--flag=true` or `--flag=false`."""

    name = "bool"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.fail(f"{value!r} is not a boolean (true or false)", param, ctx)


def _bool_flag(name: str, help_text: str, default: bool = False):  # type: ignore[no-untyped-def]
    return click.option(
        name, type=_GoBool(), is_flag=False, flag_value="true", default=default,
        show_default=True, help=help_text,
    )


def _choice(enum: type) -> click.Choice:
    return click.Choice([member.value for member in enum], case_sensitive=False)


@click.command("executor", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--context", "-c", default="/workspace/", show_default=True,
              help="Build context: directory, dir://, tar:// (tar://stdin) or a git URL.")
@click.option("--dockerfile", "-f", default=None,
              help="Path to the Dockerfile (default: CONTEXT/Dockerfile; a relative path is "
                   "tried in the current directory, then in the context, as kaniko does).")
@click.option("--destination", "-d", multiple=True, help="Image reference to push (repeatable).")
@click.option("--push-by-digest", multiple=True, metavar="REGISTRY/REPO",
              help="Push to this repository by digest only, without a tag (repeatable).")
@_bool_flag("--no-push", "Build without pushing.")
@click.option("--tar-path", help="Write the image as a docker-archive tarball to this path.")
@click.option("--oci-layout-path", help="Write the image as an OCI layout to this directory.")
@click.option("--digest-file", help="Write the image digest to this file.")
@click.option("--image-name-with-digest-file", help="Write NAME@DIGEST lines to this file.")
@click.option("--image-name-tag-with-digest-file", help="Write NAME:TAG@DIGEST lines here.")
@click.option("--build-arg", multiple=True,
              help="KEY=VALUE (or KEY, taken from the environment); repeatable.")
@click.option("--label", multiple=True, help="KEY=VALUE label on the image; repeatable.")
@click.option("--target", help="Build this stage (name) instead of the last one.")
@click.option("--custom-platform", help="Target platform, e.g. linux/arm64.")
@_bool_flag("--reproducible", "Strip timestamps (SOURCE_DATE_EPOCH or 0).")
@_bool_flag("--single-snapshot", "Take one snapshot at the end of each stage: its steps become "
           "one layer on the base (the layer cache is not used then, as in kaniko).")
@click.option("--snapshot-mode", type=_choice(SnapshotMode), default="full", show_default=True)
@_bool_flag("--insecure", "Push to plain-HTTP registries.")
@click.option("--insecure-registry", multiple=True, help="Plain-HTTP registry (repeatable).")
@_bool_flag("--skip-tls-verify", "Push without verifying TLS certificates.")
@click.option("--skip-tls-verify-registry", multiple=True,
              help="Registry whose certificate is not verified (repeatable).")
@click.option("--registry-certificate", multiple=True, help="HOST=CA_FILE (repeatable).")
@click.option("--registry-mirror", multiple=True, help="Mirror for docker.io (repeatable).")
@_bool_flag("--insecure-pull", "Pull from plain-HTTP registries.")
@_bool_flag("--skip-tls-verify-pull", "Pull without verifying TLS certificates.")
@click.option("--push-retry", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--compression", type=_choice(Compression), default="gzip", show_default=True)
@click.option("--compression-level", type=int, default=-1, show_default=True)
@click.option("--ignore-path", multiple=True, help="Path left out of snapshots (repeatable).")
@_bool_flag("--cleanup", "Clean the filesystem at the end of the build.")
@click.option("--verbosity", "-v", type=_choice(Verbosity), default="info", show_default=True)
@click.option("--log-format", type=_choice(LogFormat), default="color", show_default=True)
@_bool_flag("--cache", "Use cached layers.")
@click.option("--cache-repo", help="Repository for cached layers.")
@click.option("--cache-dir", help="Local store for layers and cache entries "
              "(default: $MULTIARCH_CACHE_DIR or ~/.cache/multiarch).")
@click.option("--cache-ttl", default="336h", show_default=True, help="Cache entries older than this are misses.")
@_bool_flag("--cache-run-layers", "Cache RUN layers.", default=True)
@_bool_flag("--cache-copy-layers", "Cache COPY/ADD layers (keyed by the sources' content).", default=True)
@click.option("--secret", multiple=True, help="id=ID,src=PATH or id=ID,env=VAR (repeatable).")
@click.option("--isolation", type=_choice(Isolation), default="auto", show_default=True)
@click.option("--metadata-file", help="Write build metadata (JSON) to this file.")
@click.option("--json-result", help="Write the build result as JSON to this file ('-': stdout).")
@click.option("--progress", type=_choice(Progress), default="auto", show_default=True,
              help="Step output on stderr: plain lines, a tty view, json (one event per line) "
                   "or quiet.")
@_bool_flag("--check", "Parse and plan the build, print the outline, build nothing.")
def executor(**flags: object) -> None:
    """Build an image from a Dockerfile without a daemon (kaniko-compatible flags)."""
    options = options_from_flags(flags)
    if options.check:
        check(options)
        return
    from builder.executor import run_executor
    from builder.log import setup_logging

    as_json = options.log_format.value == "json" or options.progress.value == "json"
    setup_logging(options.verbosity.value, "json" if as_json else "text")
    run_executor(options)


def options_from_flags(flags: dict[str, object]) -> ExecutorOptions:
    from builder.options import ExecutorOptions

    def many(name: str) -> tuple[str, ...]:
        return tuple(flags[name])  # type: ignore[arg-type]

    return ExecutorOptions(
        context=flags["context"],
        dockerfile=flags["dockerfile"],
        destinations=many("destination"),
        push_by_digest=many("push_by_digest"),
        no_push=flags["no_push"],
        tar_path=flags["tar_path"],
        oci_layout_path=flags["oci_layout_path"],
        digest_file=flags["digest_file"],
        image_name_with_digest_file=flags["image_name_with_digest_file"],
        image_name_tag_with_digest_file=flags["image_name_tag_with_digest_file"],
        build_args=_build_args(many("build_arg")),
        labels=_pairs("--label", many("label")),
        target=flags["target"],
        custom_platform=flags["custom_platform"],
        reproducible=flags["reproducible"],
        single_snapshot=flags["single_snapshot"],
        snapshot_mode=flags["snapshot_mode"],
        insecure=flags["insecure"],
        insecure_registries=many("insecure_registry"),
        skip_tls_verify=flags["skip_tls_verify"],
        skip_tls_verify_registries=many("skip_tls_verify_registry"),
        registry_certificates=_pairs("--registry-certificate", many("registry_certificate")),
        registry_mirrors=many("registry_mirror"),
        insecure_pull=flags["insecure_pull"],
        skip_tls_verify_pull=flags["skip_tls_verify_pull"],
        push_retry=flags["push_retry"],
        compression=flags["compression"],
        compression_level=flags["compression_level"],
        ignore_paths=many("ignore_path"),
        cleanup=flags["cleanup"],
        verbosity=flags["verbosity"],
        log_format=flags["log_format"],
        cache=flags["cache"],
        cache_repo=flags["cache_repo"],
        cache_dir=flags["cache_dir"],
        cache_ttl=flags["cache_ttl"],
        cache_run_layers=flags["cache_run_layers"],
        cache_copy_layers=flags["cache_copy_layers"],
        secrets=tuple(_secret(text) for text in many("secret")),
        isolation=flags["isolation"],
        metadata_file=flags["metadata_file"],
        json_result=flags["json_result"],
        progress=flags["progress"],
        check=flags["check"],
    )


def _build_args(values: tuple[str, ...]) -> dict[str, str]:
    """kaniko's rule: `KEY=VALUE`, or `KEY` alone to take the value from the environment."""
    args: dict[str, str] = {}
    for text in values:
        key, eq, value = text.partition("=")
        if not key:
            raise UsageError(f"--build-arg {text!r}: the name is empty", "use KEY=VALUE")
        if not eq:
            value = os.environ.get(key, "")
        args[key] = value
    return args


def _pairs(flag: str, values: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for text in values:
        key, eq, value = text.partition("=")
        if not key or not eq:
            raise UsageError(f"{flag} {text!r} is not KEY=VALUE", f"e.g. {flag} key=value")
        pairs[key] = value
    return pairs


def _secret(text: str) -> SecretSource:
    from builder.options import SecretSource

    fields = _pairs("--secret", tuple(text.split(",")))
    unknown = set(fields) - {"id", "src", "source", "env", "type"}
    if unknown or "id" not in fields:
        raise UsageError(f"--secret {text!r}: expected id=ID,src=PATH or id=ID,env=VAR")
    src = fields.get("src", fields.get("source"))
    env = fields.get("env")
    if (src is None) == (env is None):
        raise UsageError(f"--secret {text!r}: give exactly one of src= or env=")
    return SecretSource(id=fields["id"], src=src, env=env)


def check(options: ExecutorOptions) -> None:
    from builder.dockerfile import parse_dockerfile, plan_build
    from builder.dockerfile.outline import outline
    from builder.errors import PlatformError
    from builder.oci.platform import host_platform, parse_platform

    from builder.executor.context import locate_dockerfile
    from builder.executor.preflight import preflight

    context = options.context.removeprefix("dir://")
    path = locate_dockerfile(options.dockerfile, None if "://" in context else Path(context))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read Dockerfile {str(path)!r}: {err}") from None
    dockerfile = parse_dockerfile(text, str(path))
    try:
        platform = parse_platform(options.custom_platform) if options.custom_platform else None
    except PlatformError as err:
        raise UsageError(f"--custom-platform: {err}", err.hint) from None
    plan = plan_build(dockerfile, options.build_args, options.target, platform, host_platform())
    preflight(plan)
    for line in outline(plan):
        click.echo(line)
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
