"""`multiarch executor`: kaniko's executor flags, so CI jobs migrate by changing one word.

Only the flags are declared here, so `multiarch executor --help` imports nothing but click;
`builder.cli_run` turns them into one `ExecutorOptions` value and runs the build (or `--check`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TypeVar

import click

from builder.option_choices import (
    AttestFormat,
    Compression,
    Isolation,
    LogFormat,
    Progress,
    RunNetwork,
    SbomFormat,
    SnapshotMode,
    Verbosity,
)

FC = TypeVar("FC", bound=Callable[..., object])
_FALSE = ("false", "0", "f", "no")
_TRUE = ("true", "1", "t", "yes")


class _GoBool(click.ParamType):  # type: ignore[type-arg]  # not generic in click 8.1 (allowed)
    """A kaniko (pflag) boolean: `--flag`, `--flag=true` or `--flag=false`."""

    name = "bool"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.fail(f"{value!r} is not a boolean (true or false)", param, ctx)


def _bool_flag(name: str, help_text: str, default: bool = False) -> Callable[[FC], FC]:
    return click.option(
        name, type=_GoBool(), is_flag=False, flag_value="true", default=default,
        show_default=True, help=help_text,
    )


def _choice(enum: type[Enum]) -> click.Choice[str]:
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
@click.option("--annotation", multiple=True,
              help="KEY=VALUE annotation on the image manifest; repeatable.")
@click.option("--build-context", multiple=True, metavar="NAME=DIR|docker-image://REF",
              help="A named context for FROM NAME / COPY --from=NAME (repeatable).")
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
@click.option("--registry-client-cert", multiple=True, metavar="HOST=CERT,KEY",
              help="Client certificate for a registry that asks for one (repeatable).")
@click.option("--registry-mirror", multiple=True, help="Mirror for docker.io (repeatable).")
@_bool_flag("--insecure-pull", "Pull from plain-HTTP registries.")
@_bool_flag("--skip-tls-verify-pull", "Pull without verifying TLS certificates.")
@click.option("--push-retry", type=click.IntRange(min=0), default=0, show_default=True)
@_bool_flag("--push-ignore-immutable-tag-errors", "A registry that will not move an immutable "
           "tag it already holds (ECR, Artifact Registry) is a warning, not a failure.")
@click.option("--compression", type=_choice(Compression), default="gzip", show_default=True)
@click.option("--compression-level", type=int, default=-1, show_default=True)
@click.option("--ignore-path", multiple=True, help="Path left out of snapshots (repeatable).")
@_bool_flag("--cleanup", "Clean the filesystem at the end of the build.")
@click.option("--verbosity", "-v", type=_choice(Verbosity), default="info", show_default=True)
@click.option("--log-format", type=_choice(LogFormat), default="color", show_default=True)
@_bool_flag("--log-timestamp", "Start each log line with its time.")
@_bool_flag("--cache", "Use cached layers.")
@click.option("--cache-repo", help="Repository for cached layers.")
@click.option("--cache-dir", help="Local store for layers and cache entries "
              "(default: $MULTIARCH_CACHE_DIR or ~/.cache/multiarch).")
@click.option("--cache-ttl", default="336h", show_default=True, help="Cache entries older than this are misses.")
@_bool_flag("--cache-run-layers", "Cache RUN layers.", default=True)
@_bool_flag("--cache-copy-layers", "Cache COPY/ADD layers (keyed by the sources' content).", default=True)
@_bool_flag("--cache-repo-push", "Record new entries in --cache-repo (false: only read it).",
           default=True)
@_bool_flag("--no-cache", "Look nothing up in the cache; each step still goes to it.")
@click.option("--secret", multiple=True, help="id=ID,src=PATH or id=ID,env=VAR (repeatable).")
@click.option("--isolation", type=_choice(Isolation), default="auto", show_default=True,
              help="How RUN steps are separated; container-root: the build root is this "
                   "container's own / (kaniko's model, multiarch's image only).")
@click.option("--network", type=_choice(RunNetwork), default="default", show_default=True,
              help="Network of RUN steps without their own --network (none: namespace isolation).")
@click.option("--add-host", multiple=True, metavar="HOST:IP",
              help="Extra /etc/hosts line in RUN steps (repeatable).")
@_bool_flag("--force", "With --isolation container-root: build even where this root does not "
           "look like a throw-away container (kaniko's --force).")
@click.option("--metadata-file", help="Write build metadata (JSON) to this file.")
@click.option("--json-result", help="Write the build result as JSON to this file ('-': stdout).")
@click.option("--progress", type=_choice(Progress), default="auto", show_default=True,
              help="Step output on stderr: plain lines, a tty view, json (one event per line) "
                   "or quiet.")
@_bool_flag("--check", "Parse and plan the build, print the outline, build nothing.")
@click.option("--provenance", is_flag=False, flag_value="mode=min", default="false",
              show_default=True, metavar="[true|false|mode=min|mode=max]",
              help="Attach SLSA provenance v1 to the image (buildx's --provenance).")
@_bool_flag("--sbom", "Attach an SBOM of the image's final filesystem: packages (dpkg, apk, "
           "Python, npm) and unowned executables (buildx's --sbom).")
@click.option("--sbom-format", type=_choice(SbomFormat), default="spdx", show_default=True,
              help="spdx: SPDX 2.3 JSON (buildx's); cyclonedx: CycloneDX 1.6 JSON.")
@click.option("--attest-format", type=_choice(AttestFormat), default="oci", show_default=True,
              help="oci: attestations refer to their image (OCI referrers); buildkit: "
                   "attestation manifests as unknown/unknown entries of an index, as BuildKit.")
@click.option("--context-sub-path", help="Build from this directory inside the context.")
@click.option("--git", metavar="branch=NAME", help="Branch (or tag) of a git context.")
@click.option("--bucket", hidden=True)  # kaniko's GCS context: refused like gs:// contexts
@click.option("--registry-map", multiple=True, metavar="REGISTRY=MIRROR[;REGISTRY=MIRROR]",
              help="A mirror read before REGISTRY (repeatable).")
@_bool_flag("--skip-default-registry-fallback",
           "Do not read a registry itself when its mirrors (--registry-mirror/-map) fail.")
@click.option("--image-download-retry", type=click.IntRange(min=0), default=0,
              help="Retries of registry reads (every request is retried anyway: "
                   "MULTIARCH_RETRY_ATTEMPTS).")
@click.option("--image-fs-extract-retry", type=click.IntRange(min=0), default=0,
              help="As --image-download-retry (the layers are read while they are extracted).")
@_bool_flag("--no-push-cache", "Record no new cache entries (as --cache-repo-push=false).")
@click.option("--kaniko-dir", help="kaniko's directory: left out of snapshots; its "
              ".docker/config.json is read unless $DOCKER_CONFIG is set.")
@_bool_flag("--ignore-var-run", "Leave /var/run out of snapshots (kaniko's default is true; "
           "multiarch, as BuildKit, keeps it unless asked).")
@_bool_flag("--compressed-caching", "No effect: layers are streamed, never held in memory.",
           default=True)
@_bool_flag("--use-new-run", "No effect: every RUN step is snapshotted on its own.")
@_bool_flag("--skip-unused-stages", "No effect: only the stages the target needs are built, "
           "as BuildKit does.")
@_bool_flag("--preserve-context", "No effect: a build never changes its context.")
@_bool_flag("--materialize", "No effect (kaniko's cache-hit filesystem replay).")
@_bool_flag("--force-build-metadata", "No effect: metadata instructions change the config "
           "only, as in BuildKit.")
@_bool_flag("--skip-push-permission-check", "No effect: nothing is pushed before the build.")
@click.option("--credential-helpers", multiple=True,
              help="No effect: the helpers config.json names (credHelpers, credsStore) are used.")
@click.option("--snapshotMode", "snapshot_mode_deprecated", hidden=True,
              type=_choice(SnapshotMode))
@click.option("--customPlatform", "custom_platform_deprecated", hidden=True)
@click.option("--tarPath", "tar_path_deprecated", hidden=True)
@click.option("--defer-referrers-tag", is_flag=True, hidden=True,
              help="multiarch build's: it writes the referrers tag once every platform is in.")
@click.option("--sign-key", metavar="PATH|env://NAME",
              help="Sign the attestations (DSSE) with this ed25519/ECDSA PEM key; a variable "
                   "holds PEM text or a path (default: env://MULTIARCH_SIGN_KEY when set).")
def executor(**flags: object) -> None:
    """Build an image from a Dockerfile without a daemon (kaniko-compatible flags)."""
    # The options models and the executor: imported when the command runs, not for --help.
    from builder.cli_run import run_command

    run_command(flags)
