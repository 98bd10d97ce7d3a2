"""buildx's flags of `multiarch build` onto its BuildSpec: the same fields a spec sets
(`BuildxSettings`), validated by the same model, then merged over the spec's (lists add up,
mappings are updated, a flag's scalar wins). Flags buildx has and we do not are refused with
what to use instead."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from builder.errors import UsageError
from multiarch.build_flags import BuildFlags
from multiarch.buildx import parse_annotation_key
from multiarch.spec import BuildSpec, BuildxSettings

_FIELD_FLAGS = {
    "secrets": "--secret",
    "labels": "--label",
    "annotations": "--annotation",
    "cache_from": "--cache-from/--cache-to",
    "cache_to": "--cache-to",
    "add_hosts": "--add-host",
    "contexts": "--build-context",
}


def refuse_unsupported(flags: BuildFlags) -> None:
    if flags.load:
        raise UsageError(
            "--load: there is no daemon to load into",
            hint="-o docker-archive:FILE.tar (then `docker load -i`) or -o oci:DIR",
        )
    if flags.ssh:
        raise UsageError(
            "--ssh: SSH agent forwarding into RUN steps is not supported yet",
            hint="use --secret id=key,src=PATH with RUN --mount=type=secret",
        )
    if flags.builder:
        raise UsageError(
            "--builder: there are no builder instances",
            hint="choose where each platform builds with the spec's runner: (local, ssh://, "
            "gitlab)",
        )
    if flags.allow:
        raise UsageError(
            "--allow: no entitlements to grant",
            hint="RUN steps get the host network unless --network none; "
            "privileged steps are not supported",
        )


def with_buildx_flags(spec: BuildSpec, flags: BuildFlags) -> BuildSpec:
    """`spec` with buildx's flags merged over its own settings."""
    given = _flag_settings(flags)
    update: dict[str, object] = {
        "secrets": [*spec.secrets, *given.secrets],
        "labels": {**spec.labels, **given.labels},
        "annotations": {**spec.annotations, **given.annotations},
        "cache_from": [*spec.cache_from, *given.cache_from],
        "cache_to": [*spec.cache_to, *given.cache_to],
        "no_cache": spec.no_cache or given.no_cache,
        "add_hosts": [*spec.add_hosts, *given.add_hosts],
        "network": flags.network or spec.network,
        "contexts": {**spec.contexts, **given.contexts},
    }
    merged = spec.model_copy(update=update)
    try:
        merged.check_cache_repository()
    except ValueError as err:
        raise UsageError(f"--cache-from/--cache-to: {err}") from None
    return merged


def _flag_settings(flags: BuildFlags) -> BuildxSettings:
    # buildx's --annotation without a level is the manifests' (the spec's default is index)
    annotations = {}
    for pair in flags.annotations:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise UsageError(f"--annotation {pair!r} is not [LEVEL:]KEY=VALUE")
        try:
            parse_annotation_key(key, "manifest")
        except ValueError as err:
            raise UsageError(f"--annotation: {err}") from None
        annotations[key if ":" in key else f"manifest:{key}"] = value
    data = {
        "secrets": [_secret_fields(text) for text in flags.secrets],
        "labels": dict(_pair("--label", text) for text in flags.labels),
        "annotations": annotations,
        "cache_from": list(flags.cache_from),
        "cache_to": list(flags.cache_to),
        "no_cache": flags.no_cache,
        "add_hosts": list(flags.add_hosts),
        "contexts": dict(_pair("--build-context", text) for text in flags.build_contexts),
    }
    try:
        return BuildxSettings.model_validate(data, context={"base_dir": Path.cwd()})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "cache_from"  # the model's check
        flag = _FIELD_FLAGS.get(field, field)
        message = str(first.get("ctx", {}).get("error", first["msg"]))
        raise UsageError(f"{flag}: {message}") from None


def _pair(flag: str, text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise UsageError(f"{flag} {text!r} is not KEY=VALUE")
    return key, value


def _secret_fields(text: str) -> dict[str, str]:
    """buildx's `id=ID,src=PATH` (`source=`, `type=file|env` too) or `id=ID,env=VAR`."""
    fields = dict(_pair("--secret", part) for part in text.split(","))
    kind = fields.pop("type", None)
    if "source" in fields:
        fields["src"] = fields.pop("source")
    if kind == "env" and "src" in fields:  # buildx: type=env,src=VAR reads the variable
        fields["env"] = fields.pop("src")
    unknown = sorted(set(fields) - {"id", "src", "env"})
    if unknown or "id" not in fields:
        raise UsageError(f"--secret {text!r}: expected id=ID,src=PATH or id=ID,env=VAR")
    if "src" not in fields and "env" not in fields:
        # buildx: `id=NAME` alone is the variable NAME when set (or type=env), else file NAME
        by_env = kind == "env" or (kind is None and fields["id"] in os.environ)
        fields["env" if by_env else "src"] = fields["id"]
    return fields
