"""SLSA provenance v1: min and max modes, secrets left out, CI source, epoch timestamps; each
statement validated by the in-toto attestation bindings (tests/fixtures/intoto.py)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone

import pytest

from builder.attest.provenance import BaseImageUse, BuildFacts, provenance, public_build_args
from builder.attest.statement import statement
from builder.log import register_secret
from tests.fixtures.intoto import validated_slsa_provenance

DOCKERFILE = b"FROM debian:12\nARG VERSION\nRUN echo $VERSION\n"
SUBJECT = "sha256:" + "12" * 32
BASE = "sha256:" + "34" * 32
STARTED = datetime(2026, 12, 4, 23, 0, 0, tzinfo=timezone.utc)
FINISHED = datetime(2026, 12, 4, 23, 0, 42, tzinfo=timezone.utc)


def facts(**overrides: object) -> BuildFacts:
    values: dict[str, object] = {
        "dockerfile_path": "Dockerfile",
        "dockerfile": DOCKERFILE,
        "platform": "linux/arm64",
        "target": "final",
        "build_args": {"VERSION": "1.2", "API_TOKEN": "t0ken-value", "PLAIN": "p"},
        "base_images": (BaseImageUse("debian:12", BASE), BaseImageUse("debian:12", BASE)),
        "context_digest": "sha256:" + "56" * 32,
        "started": STARTED,
        "finished": FINISHED,
    }
    values.update(overrides)
    return BuildFacts(**values)  # type: ignore[arg-type]


def checked(build: BuildFacts, mode: str) -> dict:
    data = statement(provenance(build, mode), "127.0.0.1:5000/app", SUBJECT)  # type: ignore[arg-type]
    return validated_slsa_provenance(data)


def test_min_names_dockerfile_platform_target_and_base_images() -> None:
    document = checked(facts(), "min")
    assert document["subject"] == [{"name": "127.0.0.1:5000/app", "digest": {"sha256": "12" * 32}}]
    definition = document["predicate"]["buildDefinition"]
    assert definition["externalParameters"] == {
        "configSource": {
            "path": "Dockerfile", "digest": {"sha256": hashlib.sha256(DOCKERFILE).hexdigest()},
        },
        "request": {"platform": "linux/arm64", "target": "final"},
    }
    assert definition["resolvedDependencies"] == [{
        "uri": "pkg:docker/debian:12?platform=linux%2Farm64",
        "name": "debian:12",
        "digest": {"sha256": "34" * 32},
    }]
    details = document["predicate"]["runDetails"]
    assert details["builder"]["id"].startswith("pkg:pypi/multiarch@")
    assert details["metadata"] == {
        "startedOn": "2026-12-04T23:00:00Z", "finishedOn": "2026-12-04T23:00:42Z",
    }
    assert b"t0ken-value" not in statement(provenance(facts()), "n", SUBJECT)


def test_max_adds_dockerfile_text_public_build_args_and_context() -> None:
    document = checked(facts(), "max")
    definition = document["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["request"]["buildArgs"] == {
        "PLAIN": "p", "VERSION": "1.2",
    }
    by_name = {d.get("name"): d for d in definition["resolvedDependencies"]}
    assert by_name["context"]["digest"] == {"sha256": "56" * 32}
    assert base64.b64decode(by_name["Dockerfile"]["content"]) == DOCKERFILE


def test_build_arg_holding_a_registered_secret_is_left_out() -> None:
    register_secret("s3cr3t-from-a-secret-mount")
    args = {"HARMLESS_NAME": "s3cr3t-from-a-secret-mount", "OK": "fine"}
    assert public_build_args(args) == {"OK": "fine"}
    data = statement(provenance(facts(build_args=args), "max"), "n", SUBJECT)
    assert b"s3cr3t" not in data


def test_gitlab_ci_commit_is_the_config_source_and_a_dependency() -> None:
    environ = {
        "CI_COMMIT_SHA": "a" * 40,
        "CI_PROJECT_URL": "https://gitlab.example/group/app",
        "CI_JOB_URL": "https://gitlab.example/group/app/-/jobs/7",
    }
    document = checked(facts(environ=environ), "min")
    predicate = document["predicate"]
    git = {"uri": "git+https://gitlab.example/group/app@" + "a" * 40,
           "digest": {"gitCommit": "a" * 40}}
    assert predicate["buildDefinition"]["resolvedDependencies"][0] == git
    assert predicate["buildDefinition"]["externalParameters"]["configSource"]["uri"] == git["uri"]
    assert predicate["runDetails"]["metadata"]["invocationId"].endswith("/jobs/7")


def test_source_date_epoch_fixes_both_timestamps() -> None:
    epoch = datetime.fromtimestamp(1700000000, timezone.utc)
    first = statement(provenance(facts(epoch=epoch)), "n", SUBJECT)
    later = statement(
        provenance(facts(epoch=epoch, started=FINISHED, finished=FINISHED)), "n", SUBJECT
    )
    assert first == later
    metadata = validated_slsa_provenance(first)["predicate"]["runDetails"]["metadata"]
    assert metadata == {"startedOn": "2023-11-14T22:13:20Z", "finishedOn": "2023-11-14T22:13:20Z"}


def test_the_validator_refuses_a_broken_predicate() -> None:
    broken = statement(provenance(facts()), "n", SUBJECT).replace(b"startedOn", b"startedAt")
    with pytest.raises(Exception, match="startedAt"):
        validated_slsa_provenance(broken)
