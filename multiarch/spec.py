"""The YAML specs: the build spec (`multiarch build SPEC.yaml`) and manifest-tool's spec
(`multiarch manifest push from-spec SPEC.yaml`).

Both are validated with pydantic; every error names file:line:column and the field path
(`platforms[1].runner: unknown scheme 'sshh'`). Relative paths in a build spec are relative
to the spec file's directory. `${VAR}` in a build spec's strings is replaced from the
environment (unset: empty; `${VAR:-default}`; `$$` for a literal `$`), and a tag that
expands to nothing is dropped, so `- ${CI_COMMIT_TAG}` only tags tag pipelines.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import click
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from builder.attest import parse_provenance
from builder.errors import MultiarchError
from builder import HostEntry
from builder.oci.models import Platform
from builder.oci.platform import format_platform, parse_platform
from builder.reference import parse_reference
from builder.transports import parse_location
from multiarch.buildx import parse_annotation_key, parse_cache_entry, select_annotations
from multiarch.index import IndexType
from multiarch.yamlsource import load_marked, parse_marked, validate

DEFAULT_OUTPUT = "oci:multiarch-out"

T = TypeVar("T")


class SpecModel(BaseModel):
    # No use_attribute_docstrings: it reads every class's source at import (~40 ms of each
    # start-up); `spec schema` adds the attribute docstrings (SpecSchema) instead.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _parse_platform(value: object) -> object:
    if isinstance(value, str):
        return _as_value_error(parse_platform, value)
    return value


def _as_value_error(parse: Callable[[str], T], value: str) -> T:
    """Our parsers raise MultiarchError; pydantic reports only ValueError with a location."""
    try:
        return parse(value)
    except MultiarchError as err:
        raise ValueError(err.message) from None


def _format_platform(value: Platform) -> str:
    return format_platform(value)


PlatformField = Annotated[
    Platform,
    BeforeValidator(_parse_platform),
    PlainSerializer(_format_platform),
    WithJsonSchema({"type": "string", "examples": ["linux/amd64", "linux/arm64", "linux/arm/v7"]}),
]


def _check_reference(value: str) -> str:
    _as_value_error(parse_reference, value)
    return value


# ----------------------------------------------------------------------- runners


class LocalRunner(SpecModel):
    """Build in this process: natively, or QEMU-emulated when the host cannot run it."""

    kind: Literal["local"] = "local"

    def __str__(self) -> str:
        return "local"


class SSHRunner(SpecModel):
    """Build on a remote host through the system `ssh` client."""

    kind: Literal["ssh"] = "ssh"
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        return f"ssh://{self.destination}" + (f":{self.port}" if self.port else "")


class GitLabRunner(SpecModel):
    """A job of a GitLab child pipeline, on runners with the platform's `runner_tags`."""

    kind: Literal["gitlab"] = "gitlab"

    def __str__(self) -> str:
        return "gitlab"


RunnerTarget = LocalRunner | SSHRunner | GitLabRunner


def parse_runner(text: str) -> RunnerTarget:
    """`local`, `gitlab`, or `ssh://[user@]host[:port]`."""
    if text in ("local", "gitlab"):
        return LocalRunner() if text == "local" else GitLabRunner()
    if "://" not in text:
        raise ValueError(f"unknown runner {text!r}: use local, gitlab or ssh://[user@]host[:port]")
    scheme = text.split("://", 1)[0]
    if scheme != "ssh":
        raise ValueError(f"unknown scheme {scheme!r}: use ssh://[user@]host[:port]")
    parts = urlsplit(text)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{text!r}: an ssh runner is ssh://[user@]host[:port], nothing after")
    if parts.password is not None:
        raise ValueError("do not put a password in an ssh runner URL; use keys or an agent")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{text!r}: the host is missing")
    return SSHRunner(host=parts.hostname, user=parts.username, port=port)


def _runner_before(value: Any) -> Any:
    return parse_runner(value) if isinstance(value, str) else value


RunnerField = Annotated[
    RunnerTarget,
    BeforeValidator(_runner_before),
    PlainSerializer(str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^(local|gitlab|ssh://([^@/:]+@)?[^@/:]+(:[0-9]+)?)$",
            "examples": ["local", "ssh://builder@arm-host:22", "gitlab"],
        }
    ),
]


# ----------------------------------------------------------------------- build spec


class SecretSpec(SpecModel):
    """A build secret for RUN --mount=type=secret: from an environment variable or a file."""

    id: str = Field(min_length=1)
    env: str | None = None
    src: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretSpec:
        if (self.env is None) == (self.src is None):
            raise ValueError(f"secret {self.id!r} needs exactly one of env or src")
        return self

    def as_flag(self) -> str:
        return f"id={self.id}," + (f"env={self.env}" if self.env else f"src={self.src}")


class CacheSpec(SpecModel):
    """Layer cache settings passed to every platform's build (kaniko's --cache* flags)."""

    enabled: bool = False
    repo: str | None = None
    dir: Path | None = None
    ttl: str | None = Field(default=None, pattern=r"^\d+(h|m|s)$")

    def executor_flags(self) -> list[str]:
        if not self.enabled:
            return []
        flags = ["--cache=true"]
        flags += [f"--cache-repo={self.repo}"] if self.repo else []
        flags += [f"--cache-dir={self.dir}"] if self.dir else []
        flags += [f"--cache-ttl={self.ttl}"] if self.ttl else []
        return flags


class SSHSettings(SpecModel):
    config_file: Path | None = None
    """An ssh_config file (`ssh -F`); default: the user's ~/.ssh/config."""
    executor: str = "multiarch"
    """The multiarch command on the remote hosts."""
    options: list[str] = Field(default_factory=list)
    """Extra `-o Key=Value` options."""


class GitLabSettings(SpecModel):
    image: str | None = None
    """The image the child pipeline's jobs run in (multiarch's own image); none: the
    runner's shell."""
    executor: str = "multiarch"
    """The multiarch command inside the jobs."""
    insecure_registries: list[str] = Field(default_factory=list)
    """Plain-HTTP registries the jobs may use (a registry on the runner's own network)."""


def _platform_or_shorthand(schema: dict[str, Any]) -> None:
    full = dict(schema)
    schema.clear()
    schema["anyOf"] = [{"type": "string", "description": "a platform, built locally"}, full]


class BuildxSettings(SpecModel):
    """What buildx's flags of the same names set (`multiarch build --secret ...` merges onto
    these; see README "buildx flag → multiarch")."""

    secrets: list[SecretSpec] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    """Index annotations; a key may name its level as buildx does: `manifest:KEY`,
    `manifest[linux/arm64]:KEY`, `manifest-descriptor:KEY`, `index:KEY`.
    org.opencontainers.image.{source,revision,created} are added to the index from GitLab CI
    variables when present."""
    cache_from: list[str] = Field(default_factory=list)
    """`type=registry,ref=REG/REPO[:TAG]` (or a bare REF): the layer cache repository to
    read; without cache_to (or cache.repo) it is only read."""
    cache_to: list[str] = Field(default_factory=list)
    """`type=registry,ref=REG/REPO[:TAG][,mode=min|max]`: the repository new entries go to
    (the same as cache_from's: one cache repository); every step of every stage is recorded
    (mode=max)."""
    no_cache: bool = False
    """Look nothing up in the cache; each step still goes to it (refreshes the cache)."""
    pull: bool = True
    """Base image tags are always resolved against their registry; false is refused."""
    network: Literal["default", "host", "none"] = "default"
    """RUN steps without their own --network: default (the host's), host or none."""
    add_hosts: list[str] = Field(default_factory=list)
    """HOST:IP lines for /etc/hosts in RUN steps."""
    contexts: dict[str, str] = Field(default_factory=dict)
    """Named build contexts: NAME: DIR or docker-image://REF, read by FROM NAME and
    COPY --from=NAME instead of a stage or image of that name."""

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return _stringify_values(value)

    @field_validator("annotations")
    @classmethod
    def _annotation_levels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            parse_annotation_key(key, "index")
        return value

    @field_validator("cache_from", "cache_to")
    @classmethod
    def _registry_caches(cls, value: list[str]) -> list[str]:
        for entry in value:
            _check_reference(parse_cache_entry(entry).ref)
        return value

    @field_validator("pull")
    @classmethod
    def _always_pull(cls, value: bool) -> bool:
        if not value:
            raise ValueError("base images are always resolved against their registry")
        return value

    @field_validator("contexts")
    @classmethod
    def _named_contexts(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        resolved = {}
        for name, where in value.items():
            if where.startswith("docker-image://"):
                _check_reference(where.removeprefix("docker-image://"))
                resolved[name] = where
                continue
            if "://" in where or where.startswith("target:"):
                raise ValueError(f"{name}: use a directory or docker-image://REF")
            path = _relative(Path(where), info)
            if not path.is_dir():
                raise ValueError(f"{name}: directory {where!r} does not exist")
            resolved[name] = str(path)
        return resolved

    def local_contexts(self) -> dict[str, Path]:
        return {n: Path(w) for n, w in self.contexts.items() if "://" not in w}

    @field_validator("add_hosts")
    @classmethod
    def _host_entries(cls, value: list[str]) -> list[str]:
        for text in value:
            HostEntry.parse(text)
        return value

    @model_validator(mode="after")
    def _one_cache_repository(self) -> BuildxSettings:
        self.cache_repository()
        return self

    def cache_repository(self) -> str | None:
        """The one registry cache repository cache_from and cache_to name (tags dropped:
        each entry is tagged by its step key)."""
        refs = {
            str(parse_reference(parse_cache_entry(entry).ref).repository_ref())
            for entry in [*self.cache_from, *self.cache_to]
        }
        if len(refs) > 1:
            raise ValueError(
                "cache_from/cache_to name different repositories "
                f"({', '.join(sorted(refs))}); one cache repository is read and written"
            )
        return refs.pop() if refs else None

    def annotations_for(self, level: str, platform: str) -> dict[str, str]:
        return select_annotations(self.annotations, level, platform)

    def run_flags(self) -> list[str]:
        """The executor flags of RUN steps' network and hosts."""
        flags = [] if self.network == "default" else ["--network", self.network]
        for text in self.add_hosts:
            flags += ["--add-host", str(HostEntry.parse(text))]
        return flags


class PlatformSpec(SpecModel):
    """A platform, with how to build it; a bare string `linux/arm64` builds it locally."""

    model_config = ConfigDict(json_schema_extra=_platform_or_shorthand)

    platform: PlatformField
    runner: RunnerField = LocalRunner()
    runner_tags: list[str] = Field(default_factory=list)
    """GitLab runner tags for this platform's job (e.g. your arm64 runner's tags)."""
    build_args: dict[str, str] = Field(default_factory=dict)
    dockerfile: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"platform": value} if isinstance(value, str) else value

    @field_validator("build_args", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return _stringify_values(value)

    @field_validator("dockerfile")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _existing_file(value, info)


class BuildSpec(BuildxSettings):
    """One multi-arch image: what to build, for which platforms, where to put it."""

    image: str | None = None
    """Registry repository (with or without a tag) that gets the index under every tag."""
    destinations: list[str] = Field(default_factory=list)
    """More places: REG/IMG[:TAG], oci:DIR[:TAG], docker-archive:FILE (one file per platform,
    named FILE-OS-ARCH[-VARIANT].tar)."""
    tags: list[str] = Field(default_factory=list)
    context: Path = Path(".")
    dockerfile: Path | None = Field(default=None, validate_default=True)
    target: str | None = None
    build_args: dict[str, str] = Field(default_factory=dict)
    index_type: IndexType = "oci"
    cache: CacheSpec = CacheSpec()
    platforms: list[PlatformSpec] = Field(min_length=1)
    allow_missing: bool = False
    """Publish an index of the platforms that succeeded when some fail."""
    sign_key: str | None = None
    """Sign each platform's attestations (DSSE) with this ed25519/ECDSA PEM key: a file, or
    env://NAME whose value is PEM text or a path. Never the key itself. Default:
    env://MULTIARCH_SIGN_KEY when that variable is set."""
    provenance: str | None = None
    """SLSA provenance attached to each platform image, as buildx's --provenance: true, false,
    mode=min or mode=max. Default: mode=min when the build pushes to a registry, else off."""
    sbom: bool = False
    """An SBOM of each platform image's final filesystem, as buildx's --sbom: packages (dpkg,
    apk, Python, npm) and executables no package owns."""
    sbom_format: Literal["spdx", "cyclonedx"] = "spdx"
    """spdx: SPDX 2.3 JSON (buildx's); cyclonedx: CycloneDX 1.6 JSON."""
    attest_format: Literal["oci", "buildkit"] = "oci"
    """oci: attestations refer to their image (OCI referrers); buildkit: BuildKit's
    attestation-manifest entries in the index (for tools that read only those)."""
    ssh: SSHSettings = SSHSettings()
    gitlab: GitLabSettings = GitLabSettings()

    @field_validator("sign_key")
    @classmethod
    def _key_by_reference(cls, value: str | None) -> str | None:
        if value is not None and "-----BEGIN" in value:
            raise ValueError("a file or env://NAME, never the key itself")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _drop_empty_tags(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [tag for tag in value if tag not in ("", None)]
        return value

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
                raise ValueError(f"{tag!r} is not a valid tag")
        return value

    @field_validator("image")
    @classmethod
    def _valid_image(cls, value: str | None) -> str | None:
        return None if value is None else _check_reference(value)

    @field_validator("provenance", mode="before")
    @classmethod
    def _valid_provenance(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).lower() if isinstance(value, bool) else value
        if not isinstance(text, str):
            raise ValueError("expected true, false, mode=min or mode=max")
        return parse_provenance(text).value

    @field_validator("destinations")
    @classmethod
    def _valid_destinations(cls, value: list[str]) -> list[str]:
        for name in value:
            _as_value_error(parse_location, name)
        return value

    @field_validator("build_args", mode="before")
    @classmethod
    def _stringify_args(cls, value: Any) -> Any:
        return _stringify_values(value)

    @model_validator(mode="after")
    def _cache_repository_once(self) -> BuildSpec:
        self.check_cache_repository()
        return self

    def check_cache_repository(self) -> None:
        """ValueError unless cache.repo, cache_from and cache_to name one repository."""
        named = self.cache_repository()
        if named and self.cache.repo:
            repo = str(parse_reference(self.cache.repo).repository_ref())
            if repo != named:
                raise ValueError(f"cache.repo {repo} and cache_from/cache_to {named} differ")

    def cache_flags(self) -> list[str]:
        """cache: with cache_from/cache_to folded in, as executor flags."""
        named = self.cache_repository()
        cache = self.cache
        if named:
            cache = cache.model_copy(update={"enabled": True, "repo": cache.repo or named})
        flags = cache.executor_flags()
        if named and not self.cache_to and not self.cache.repo:
            flags.append("--cache-repo-push=false")  # buildx: --cache-from alone only reads
        return flags + (["--no-cache"] if self.no_cache and flags else [])

    @field_validator("context")
    @classmethod
    def _context_exists(cls, value: Path, info: ValidationInfo) -> Path:
        path = _relative(value, info)
        if not path.is_dir():
            raise ValueError(f"context directory {str(value)!r} does not exist")
        return path

    @field_validator("dockerfile")
    @classmethod
    def _dockerfile_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None:
            return _existing_file(value, info)
        context = info.data.get("context")
        if context is not None and not (context / "Dockerfile").is_file():
            raise ValueError(f"no Dockerfile in the context {str(context)!r}; set dockerfile")
        return None

    @field_validator("platforms")
    @classmethod
    def _unique_platforms(cls, value: list[PlatformSpec]) -> list[PlatformSpec]:
        seen: set[str] = set()
        for entry in value:
            name = _format_platform(entry.platform)
            if name in seen:
                raise ValueError(f"platform {name} is listed twice")
            seen.add(name)
        return value

    def dockerfile_for(self, entry: PlatformSpec) -> Path:
        return entry.dockerfile or self.dockerfile or self.context / "Dockerfile"

    def build_args_for(self, entry: PlatformSpec) -> dict[str, str]:
        return {**self.build_args, **entry.build_args}

    def provenance_mode(self) -> str:
        """off, min or max: as set, else min when some output is a registry (buildx's default
        for pushes) and off for local outputs only."""
        if self.provenance is not None:
            return self.provenance
        kinds = {parse_location(name).kind for name in self.outputs()}
        return "min" if "docker" in kinds else "off"

    def attest_flags(self) -> list[str]:
        """The executor flags that attach this spec's attestations to each platform image."""
        mode = self.provenance_mode()
        flags = [] if mode == "off" else [f"--provenance=mode={mode}"]
        if self.sbom:
            flags += ["--sbom", f"--sbom-format={self.sbom_format}"]
        if not flags:
            return []
        # The coordinator writes the referrers tags once every platform is built.
        deferred = ["--defer-referrers-tag"] if self.attest_format == "oci" else []
        return flags + [f"--attest-format={self.attest_format}"] + deferred

    def outputs(self) -> list[str]:
        """Every destination name; the default oci: layout when none is given."""
        names = ([self.image] if self.image else []) + list(self.destinations)
        return names or [DEFAULT_OUTPUT]


def _stringify_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _scalar_text(item) for key, item in value.items()}
    return value


def _scalar_text(value: Any) -> Any:
    """YAML's true/1/1.5 as the text a build arg or label holds: "true", "1", "1.5"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, (int, float)) else value


def _relative(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    return value if value.is_absolute() or base is None else Path(base) / value


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    path = _relative(value, info)
    if not path.is_file():
        raise ValueError(f"file {str(value)!r} does not exist")
    return path


# ----------------------------------------------------------------------- manifest-tool spec


class ManifestPlatform(SpecModel):
    """manifest-tool's platform block; any field left out is read from the image's config."""

    architecture: str | None = None
    os: str | None = None
    variant: str | None = None
    features: list[str] | None = None
    osversion: str | None = None
    osfeatures: list[str] | None = None

    @classmethod
    def of(cls, platform: Platform) -> ManifestPlatform:
        return cls(os=platform.os, architecture=platform.architecture, variant=platform.variant)


class ManifestEntry(SpecModel):
    image: str
    platform: ManifestPlatform | None = None
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("image")
    @classmethod
    def _valid_image(cls, value: str) -> str:
        return _check_reference(value)


class ManifestSpec(SpecModel):
    """manifest-tool's YAML (`image`, `tags`, `manifests`), plus index `annotations`."""

    image: str
    tags: list[str] = Field(default_factory=list)
    manifests: list[ManifestEntry] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("image")
    @classmethod
    def _valid_image(cls, value: str) -> str:
        return _check_reference(value)


# ----------------------------------------------------------------------- loading


_VAR_RE = re.compile(
    r"""\$(?:
        \$
        | \{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}
        | (?P<bare>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """`$VAR`, `${VAR}`, `${VAR:-default}` from `env`; unset is empty; `$$` is `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        value = env.get(name, "")
        if not value and match.group("default") is not None:
            return match.group("default")
        return value

    return _VAR_RE.sub(replace, text)


def load_build_spec(path: Path, env: Mapping[str, str] | None = None) -> BuildSpec:
    environment = os.environ if env is None else env
    document = load_marked(path, transform=lambda text: expand_env(text, environment))
    return validate(document, BuildSpec, {"base_dir": path.parent})


def parse_build_spec(
    text: str, base_dir: Path, env: Mapping[str, str] | None = None, file: str = "<spec>"
) -> BuildSpec:
    """A build spec from YAML text; relative paths are relative to `base_dir`."""
    environment = os.environ if env is None else env
    document = parse_marked(text, file, transform=lambda value: expand_env(value, environment))
    return validate(document, BuildSpec, {"base_dir": base_dir})


def load_manifest_spec(path: Path) -> ManifestSpec:
    return validate(load_marked(path), ManifestSpec, {"base_dir": path.parent})


def parse_manifest_spec(text: str, base_dir: Path, file: str = "<spec>") -> ManifestSpec:
    """A manifest-tool spec from YAML text."""
    return validate(parse_marked(text, file), ManifestSpec, {"base_dir": base_dir})


SCHEMAS: dict[str, type[SpecModel]] = {"build": BuildSpec, "manifest": ManifestSpec}


class SpecSchema(GenerateJsonSchema):
    """JSON Schema with each field's attribute docstring as its description."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._docs: list[dict[str, str]] = []  # one entry per model being generated

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        self._docs.append(attribute_docstrings(schema["cls"]))
        try:
            return super().model_schema(schema)
        finally:
            self._docs.pop()

    def model_fields_schema(self, schema: core_schema.ModelFieldsSchema) -> JsonSchemaValue:
        json_schema = super().model_fields_schema(schema)
        properties = json_schema.get("properties", {})
        for name, doc in (self._docs[-1] if self._docs else {}).items():
            if name in properties:
                properties[name].setdefault("description", doc)
        return json_schema


def attribute_docstrings(cls: type) -> dict[str, str]:
    """`name: T` followed by a string literal, in the class body: {name: that string}."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs = {}
    for field, doc in zip(body.body, body.body[1:]):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[field.target.id] = inspect.cleandoc(doc.value.value)
    return docs


@click.group("spec")
def spec_command() -> None:
    """The YAML specs: JSON Schema for editors, validation."""


@spec_command.command("schema")
@click.option(
    "--kind",
    type=click.Choice(sorted(SCHEMAS)),
    default="build",
    show_default=True,
    help="build: `multiarch build` specs; manifest: manifest-tool specs.",
)
def schema_command(kind: str) -> None:
    """Print the JSON Schema of a spec (for yaml-language-server and other editors)."""
    schema = SCHEMAS[kind].model_json_schema(mode="validation", schema_generator=SpecSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(schema, indent=2))


@spec_command.command("check")
@click.argument("spec_file", type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(sorted(SCHEMAS)), default="build", show_default=True)
def check_command(spec_file: Path, kind: str) -> None:
    """Validate a spec; prints the first problem as FILE:LINE:COLUMN: FIELD: MESSAGE."""
    spec = load_build_spec(spec_file) if kind == "build" else load_manifest_spec(spec_file)
    count = len(spec.platforms) if isinstance(spec, BuildSpec) else len(spec.manifests)
    click.echo(f"{spec_file}: ok ({count} {'platforms' if kind == 'build' else 'manifests'})")
