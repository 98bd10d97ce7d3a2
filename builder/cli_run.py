"""What `multiarch executor` does once click has parsed its flags (`builder.cli`): the flags
become one `ExecutorOptions` value; `--check` parses the Dockerfile, resolves args and stages
for the platform and prints the outline (no network, no build); otherwise the build runs
through `builder.executor.run.run_executor(options)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import click

from builder.dockerfile import parse_dockerfile, plan_build
from builder.dockerfile.outline import outline
from builder.errors import PlatformError, UsageError
from builder.executor.context import context_subdir, is_git_url, locate_dockerfile
from builder.executor.preflight import preflight
from builder.executor.run import run_executor
from builder.log import setup_logging
from builder.option_choices import Provenance, parse_provenance
from builder.oci.platform import host_platform, parse_platform
from builder.options import ExecutorOptions, HostEntry, SecretSource
from builder.registry.options import parse_client_certs


def run_command(flags: dict[str, object]) -> None:
    options = options_from_flags(flags)
    if options.check:
        check(options)
        return
    as_json = options.log_format.value == "json" or options.progress.value == "json"
    setup_logging(options.verbosity.value, "json" if as_json else "text",
                  timestamps=bool(flags["log_timestamp"]))
    run_executor(options)


def options_from_flags(flags: dict[str, object]) -> ExecutorOptions:
    def many(name: str) -> tuple[str, ...]:
        return tuple(cast("tuple[str, ...]", flags[name]))  # click: multiple=True -> tuple

    flags = _kaniko_spellings(flags)
    return ExecutorOptions.model_validate({
        "context": _context(flags),
        "context_sub_path": flags["context_sub_path"],
        "dockerfile": flags["dockerfile"],
        "destinations": many("destination"),
        "push_by_digest": many("push_by_digest"),
        "no_push": flags["no_push"],
        "tar_path": flags["tar_path"],
        "oci_layout_path": flags["oci_layout_path"],
        "digest_file": flags["digest_file"],
        "image_name_with_digest_file": flags["image_name_with_digest_file"],
        "image_name_tag_with_digest_file": flags["image_name_tag_with_digest_file"],
        "build_args": _build_args(many("build_arg")),
        "labels": _pairs("--label", many("label")),
        "build_contexts": _build_contexts(many("build_context")),
        "annotations": _pairs("--annotation", many("annotation")),
        "target": flags["target"],
        "custom_platform": flags["custom_platform"],
        "reproducible": flags["reproducible"],
        "single_snapshot": flags["single_snapshot"],
        "snapshot_mode": flags["snapshot_mode"],
        "insecure": flags["insecure"],
        "insecure_registries": many("insecure_registry"),
        "skip_tls_verify": flags["skip_tls_verify"],
        "skip_tls_verify_registries": many("skip_tls_verify_registry"),
        "registry_certificates": _pairs("--registry-certificate", many("registry_certificate")),
        "registry_client_certs": {  # options hold paths as text, as registry_certificates
            host: (str(cert), str(key))
            for host, (cert, key) in parse_client_certs(many("registry_client_cert")).items()
        },
        "registry_mirrors": many("registry_mirror"),
        "registry_maps": _registry_maps(many("registry_map")),
        "skip_default_registry_fallback": flags["skip_default_registry_fallback"],
        "pull_retry": max(cast(int, flags["image_download_retry"]),
                          cast(int, flags["image_fs_extract_retry"])),
        "insecure_pull": flags["insecure_pull"],
        "skip_tls_verify_pull": flags["skip_tls_verify_pull"],
        "push_retry": flags["push_retry"],
        "push_ignore_immutable_tag_errors": flags["push_ignore_immutable_tag_errors"],
        "compression": flags["compression"],
        "compression_level": flags["compression_level"],
        "ignore_paths": _ignore_paths(flags, many("ignore_path")),
        "cleanup": flags["cleanup"],
        "verbosity": flags["verbosity"],
        "log_format": flags["log_format"],
        "cache": flags["cache"],
        "cache_repo": flags["cache_repo"],
        "cache_dir": flags["cache_dir"],
        "cache_ttl": flags["cache_ttl"],
        "cache_run_layers": flags["cache_run_layers"],
        "cache_copy_layers": flags["cache_copy_layers"],
        "cache_repo_push": flags["cache_repo_push"] and not flags["no_push_cache"],
        "no_cache": flags["no_cache"],
        "secrets": tuple(_secret(text) for text in many("secret")),
        "isolation": flags["isolation"],
        "network": flags["network"],
        "add_hosts": tuple(_host_entry(text) for text in many("add_host")),
        "force": flags["force"],
        "metadata_file": flags["metadata_file"],
        "json_result": flags["json_result"],
        "progress": flags["progress"],
        "check": flags["check"],
        "provenance": _provenance(str(flags["provenance"])),
        "sbom": flags["sbom"],
        "sbom_format": flags["sbom_format"],
        "attest_format": flags["attest_format"],
        "defer_referrers_tag": flags["defer_referrers_tag"],
        "sign_key": flags["sign_key"],
    })


def _provenance(text: str) -> Provenance:
    try:
        return parse_provenance(text)
    except ValueError as err:
        raise UsageError(f"--provenance {err}") from None


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


def _kaniko_spellings(flags: dict[str, object]) -> dict[str, object]:
    """kaniko's deprecated camel-case flags, as kaniko takes them: with a warning; and
    --kaniko-dir's config.json, as kaniko points DOCKER_CONFIG at it."""
    flags = dict(flags)
    for old, new, name in (("snapshot_mode_deprecated", "snapshot_mode", "--snapshotMode"),
                           ("custom_platform_deprecated", "custom_platform", "--customPlatform"),
                           ("tar_path_deprecated", "tar_path", "--tarPath")):
        if flags[old] is not None:
            click.echo(f"warning: {name} is deprecated, use --{new.replace('_', '-')}", err=True)
            flags[new] = flags[old]
    kaniko_dir = flags["kaniko_dir"]
    if kaniko_dir and not os.environ.get("DOCKER_CONFIG"):
        if (Path(str(kaniko_dir)) / ".docker" / "config.json").is_file():
            os.environ["DOCKER_CONFIG"] = str(Path(str(kaniko_dir)) / ".docker")
    return flags


def _context(flags: dict[str, object]) -> str:
    """--context, or kaniko's --bucket (a GCS bucket, refused as gs:// contexts are), with
    --git's branch as a git context's #fragment (kaniko ignores --git for other contexts)."""
    context = str(flags["context"])
    if flags["bucket"]:
        bucket = str(flags["bucket"])
        context = bucket if "://" in bucket else f"gs://{bucket}"
    git = flags["git"]
    if git:
        settings = _pairs("--git", tuple(str(git).split(",")))
        unknown = settings.keys() - {"branch", "single-branch", "recurse-submodules"}
        if unknown:
            raise UsageError(f"--git {git}: unknown setting {sorted(unknown)[0]!r}",
                             "branch=NAME, single-branch=BOOL, recurse-submodules=BOOL")
        if settings.get("branch") and is_git_url(context) and "#" not in context:
            context += "#" + settings["branch"]
    return context


def _ignore_paths(flags: dict[str, object], given: tuple[str, ...]) -> tuple[str, ...]:
    """--ignore-path, with /var/run for --ignore-var-run and kaniko's own directory."""
    var_run = ("/var/run",) if flags["ignore_var_run"] else ()
    kaniko_dir = (str(flags["kaniko_dir"]),) if flags["kaniko_dir"] else ()
    return given + var_run + kaniko_dir


def _registry_maps(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """kaniko's REGISTRY=MIRROR[;REGISTRY=MIRROR], repeatable; the mirrors of one registry
    add up, tried in the order given."""
    maps: dict[str, tuple[str, ...]] = {}
    for text in values:
        for pair in filter(None, text.split(";")):
            registry, eq, mirror = pair.partition("=")
            if not registry or not eq or not mirror:
                raise UsageError(
                    f"--registry-map {text!r} is not REGISTRY=MIRROR[;REGISTRY=MIRROR]",
                    "e.g. --registry-map index.docker.io=mirror.example.com",
                )
            maps[registry] = maps.get(registry, ()) + (mirror,)
    return maps


def _pairs(flag: str, values: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for text in values:
        key, eq, value = text.partition("=")
        if not key or not eq:
            raise UsageError(f"{flag} {text!r} is not KEY=VALUE", f"e.g. {flag} key=value")
        pairs[key] = value
    return pairs


def _build_contexts(values: tuple[str, ...]) -> dict[str, str]:
    """buildx's NAME=docker-image://REF or NAME=DIR (an existing directory)."""
    contexts = _pairs("--build-context", values)
    for name, value in contexts.items():
        if value.startswith("docker-image://"):
            continue
        if "://" in value or value.startswith("target:"):
            raise UsageError(
                f"--build-context {name}={value}: only docker-image://REF and local "
                "directories are supported"
            )
        if not Path(value).is_dir():
            raise UsageError(f"--build-context {name}={value}: no such directory")
    return contexts


def _host_entry(text: str) -> HostEntry:
    try:
        return HostEntry.parse(text)
    except ValueError as err:
        raise UsageError(f"--add-host {err}") from None


def _secret(text: str) -> SecretSource:
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
    context = options.context.removeprefix("dir://")
    local = None if "://" in context else context_subdir(Path(context), options.context_sub_path)
    path = locate_dockerfile(options.dockerfile, local)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read Dockerfile {str(path)!r}: {err}") from None
    dockerfile = parse_dockerfile(text, str(path))
    try:
        platform = parse_platform(options.custom_platform) if options.custom_platform else None
    except PlatformError as err:
        raise UsageError(f"--custom-platform: {err}", err.hint) from None
    plan = plan_build(
        dockerfile, options.build_args, options.target, platform, host_platform(),
        options.build_contexts,
    )
    preflight(plan)
    for line in outline(plan):
        click.echo(line)
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
