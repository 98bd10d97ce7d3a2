"""The attestations of a finished build: made from what the build knows (provenance) and
from its final root filesystem (SBOM), then stored beside every copy of the image the build
wrote — registry pushes and OCI layouts (a docker archive has nowhere to keep them).

The SBOM is read from the target stage's final root filesystem on a worker thread while the
image is written (builder/executor/sbomjob.py); a failure to store an attestation is the
build's failure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timezone
from pathlib import Path

from builder.attest.artifact import Artifact, Sign, attestation_artifact
from builder.attest.buildkit import attach_buildkit_attestations
from builder.attest.provenance import BaseImageUse, BuildFacts, provenance
from builder.attest.statement import Predicate, statement
from builder.attest.store import attach
from builder.errors import UsageError
from builder.executor.sbomjob import SbomJob
from builder.oci.models import Descriptor, Platform
from builder.option_choices import (
    ENV_PREFIX,
    SIGN_KEY_ENV,
    SIGN_KEY_PASSWORD_ENV,
    AttestFormat,
    Provenance,
    SbomFormat,
)
from builder.options import ExecutorOptions
from builder.transports import TransportContext, parse_location
from builder.transports.names import Location

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttestationSettings:
    provenance: Provenance = Provenance.OFF
    sbom: SbomFormat | None = None
    attest_format: AttestFormat = AttestFormat.OCI
    sign: Sign | None = None
    """The DSSE signer of --sign-key (see `signer`); None: unsigned statements."""
    referrers_tag: bool = True
    """False: the referrers tag schema is left to the caller (--defer-referrers-tag)."""

    @classmethod
    def of(cls, options: ExecutorOptions, sign: Sign | None = None) -> AttestationSettings:
        return cls(provenance=options.provenance,
                   sbom=options.sbom_format if options.sbom else None,
                   attest_format=options.attest_format, sign=sign,
                   referrers_tag=not options.defer_referrers_tag)

    @property
    def wanted(self) -> bool:
        return self.provenance is not Provenance.OFF or self.sbom is not None


def predicates(
    settings: AttestationSettings,
    facts: Callable[[], BuildFacts],
    sbom: SbomJob | None,
) -> list[Predicate]:
    """Every predicate the settings ask for; the SBOM is `sbom`'s (started on the target
    stage's final root filesystem while the image was written)."""
    made: list[Predicate] = []
    if settings.provenance is not Provenance.OFF:
        made.append(provenance(facts(), settings.provenance.value))
    if sbom is not None:
        made.append(sbom.result())
    return made


def attach_to_outputs(
    made: Sequence[Predicate],
    subject: Descriptor,
    platform: Platform,
    written: Sequence[str],
    ctx: TransportContext,
    settings: AttestationSettings,
) -> list[Descriptor]:
    """Store the predicates beside each written copy of the image; returns what was stored
    (artifact manifests, or BuildKit attestation manifests)."""
    if not made:
        return []
    stored: list[Descriptor] = []
    client = ctx.registry_client()
    for name in written:
        location = parse_location(name)
        if location.kind == "docker-archive":
            log.warning("warning: %s keeps no attestations (a docker archive has no place "
                        "for them)", name)
            continue
        statements = [(p.predicate_type, statement(p, _subject_name(location), subject.digest))
                      for p in made]
        if settings.attest_format is AttestFormat.BUILDKIT:
            stored.append(attach_buildkit_attestations(statements, subject, platform, location, client))
            continue
        for predicate_type, data in statements:
            artifact: Artifact = attestation_artifact(data, predicate_type, subject, settings.sign)
            how = attach(artifact, subject.digest, location, client,
                         referrers_tag=settings.referrers_tag)
            log.info("attached %s to %s (%s)", predicate_type, name, how)
            stored.append(artifact.descriptor())
    return stored


def build_facts(
    options: ExecutorOptions,
    dockerfile_path: Path,
    context_dir: Path,
    platform: str,
    base_images: Sequence[tuple[str, str]],
    started: datetime,
    epoch: datetime | None,
    context_digest: Callable[[], str],
) -> BuildFacts:
    return BuildFacts(
        dockerfile_path=_shown_path(dockerfile_path, context_dir, options.dockerfile),
        dockerfile=dockerfile_path.read_bytes(),
        platform=platform,
        target=options.target,
        build_args=dict(options.build_args),
        base_images=tuple(BaseImageUse(name, digest) for name, digest in base_images),
        context_digest=context_digest() if options.provenance is Provenance.MAX else None,
        started=started,
        finished=datetime.now(timezone.utc),
        epoch=epoch,
        environ=dict(os.environ),
    )


def _shown_path(dockerfile: Path, context_dir: Path, given: str | None) -> str:
    """The Dockerfile as the context names it (buildx's `Dockerfile`), not this machine's
    absolute path; as given when it lies outside the context."""
    try:
        return dockerfile.resolve().relative_to(context_dir.resolve()).as_posix()
    except ValueError:
        return given or "Dockerfile"


def image_name(options: ExecutorOptions) -> str:
    """What an SBOM calls the image: the first destination's repository (or layout path)."""
    planned = [*options.destinations, *options.push_by_digest]
    if options.oci_layout_path:
        planned.append(f"oci:{options.oci_layout_path}")
    return _subject_name(parse_location(planned[0])) if planned else "image"


def _subject_name(location: Location) -> str:
    if location.kind == "docker" and location.reference is not None:
        return location.reference.repository_ref().name
    return location.name or str(location.path)


def signer(options: ExecutorOptions) -> Sign | None:
    """The DSSE signer of the build's attestations (see `key_reference`), its key read once,
    before the build: a bad key fails at once, and container-root can then blank the key's
    variable from /proc/self/environ."""
    # Lazy: securesystemslib and pyca/cryptography (~55 ms), for signing builds only.
    from builder.attest.dsse import key_reference, load_signing_key, sign

    source = key_reference(options.sign_key)
    if source is None:
        return None
    if options.attest_format is AttestFormat.BUILDKIT:
        raise UsageError(
            "--attest-format buildkit stores unsigned statements (BuildKit's attestation "
            "manifests have no signatures), but a signing key is set",
            "use --attest-format oci to sign, or leave out --sign-key / $MULTIARCH_SIGN_KEY",
        )
    key = load_signing_key(source)
    if options.provenance is Provenance.OFF and not options.sbom and options.sign_key:
        log.warning("warning: --sign-key: no attestation to sign (add --provenance or --sbom)")
    log.info("signing attestations with %s", key)
    return partial(sign, key=key)


def key_variables(options: ExecutorOptions) -> frozenset[str]:
    """The environment variables the signing key (and its passphrase) may be read from."""
    source = options.sign_key or f"{ENV_PREFIX}{SIGN_KEY_ENV}"
    if not source.startswith(ENV_PREFIX):
        return frozenset()
    return frozenset({source.removeprefix(ENV_PREFIX), SIGN_KEY_PASSWORD_ENV})
