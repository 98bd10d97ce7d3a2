"""Build spec and manifest-tool spec: models, env expansion, and file:line:column errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from builder.errors import SpecError
from multiarch.spec import (
    SCHEMAS,
    GitLabRunner,
    LocalRunner,
    SSHRunner,
    SpecSchema,
    expand_env,
    load_build_spec,
    load_manifest_spec,
    parse_runner,
)


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "ctx" / "Other.dockerfile").write_text("FROM scratch\n")
    return tmp_path


def write(directory: Path, text: str, name: str = "spec.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_full_build_spec(spec_dir: Path) -> None:
    path = write(
        spec_dir,
        """
        image: registry.example.com/group/app
        tags: [latest, "${CI_COMMIT_TAG}", "sha-${CI_COMMIT_SHORT_SHA:-dev}"]
        context: ctx
        build_args: {VERSION: 1.2, DEBUG: true}
        secrets:
          - {id: npmrc, env: NPM_TOKEN}
        index_type: docker
        cache: {enabled: true, repo: registry.example.com/group/app/cache, ttl: 24h}
        platforms:
          - linux/amd64
          - platform: linux/arm64/v8
            runner: ssh://builder@arm-host:2222
            build_args: {VERSION: "2"}
          - platform: linux/arm/v7
            runner: gitlab
            runner_tags: [arm, docker]
            dockerfile: ctx/Other.dockerfile
        """,
    )
    spec = load_build_spec(path, env={"CI_COMMIT_SHORT_SHA": "abc123"})
    assert spec.tags == ["latest", "sha-abc123"]  # unset CI_COMMIT_TAG dropped
    assert spec.context == spec_dir / "ctx"
    assert [str(p.platform) for p in spec.platforms] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert spec.platforms[0].runner == LocalRunner()
    assert spec.platforms[1].runner == SSHRunner(host="arm-host", user="builder", port=2222)
    assert spec.platforms[2].runner == GitLabRunner()
    assert spec.build_args_for(spec.platforms[1]) == {"VERSION": "2", "DEBUG": "true"}
    assert spec.dockerfile_for(spec.platforms[0]) == spec_dir / "ctx" / "Dockerfile"
    assert spec.dockerfile_for(spec.platforms[2]) == spec_dir / "ctx" / "Other.dockerfile"
    assert spec.cache.executor_flags() == [
        "--cache=true",
        "--cache-repo=registry.example.com/group/app/cache",
        "--cache-ttl=24h",
    ]
    assert spec.outputs() == ["registry.example.com/group/app"]


def test_default_output_is_an_oci_layout(spec_dir: Path) -> None:
    spec = load_build_spec(write(spec_dir, "context: ctx\nplatforms: [linux/amd64]\n"), env={})
    assert spec.outputs() == ["oci:multiarch-out"]


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            "context: ctx\nplatforms:\n  - linux/amd64\n  - platform: linux/arm64\n    runner: sshh://me@h\n",
            "spec.yaml:5:13: platforms[1].runner: unknown scheme 'sshh'",
        ),
        (
            "context: ctx\nplatforms: [linux/amd64]\nplatfroms: []\n",
            "spec.yaml:3:1: platfroms: unknown field (did you mean 'platforms'?)",
        ),
        (
            "context: ctx\nplatforms:\n  - linux/amd64\n  - linux/bogus\n",
            "spec.yaml:4:5: platforms[1]: invalid platform 'linux/bogus'",
        ),
        (
            "context: missing\nplatforms: [linux/amd64]\n",
            "spec.yaml:1:10: context: context directory 'missing' does not exist",
        ),
        (
            "context: ctx\n",
            "spec.yaml:1:1: platforms: required field is missing",
        ),
        (
            "context: ctx\nplatforms: [linux/amd64, linux/amd64]\n",
            "spec.yaml:2:12: platforms: platform linux/amd64 is listed twice",
        ),
        (
            "context: ctx\nimage: Bad//Ref\nplatforms: [linux/amd64]\n",
            "spec.yaml:2:8: image: invalid reference 'Bad//Ref'",
        ),
        (
            "context: ctx\nplatforms: [linux/amd64\n",
            "spec.yaml:3:1: invalid YAML",
        ),
        (
            "context: ctx\ncontext: ctx\nplatforms: [linux/amd64]\n",
            "spec.yaml:2:1: context: duplicate key",
        ),
        (
            "context: ctx\nsecrets: [{id: x}]\nplatforms: [linux/amd64]\n",
            "spec.yaml:2:11: secrets[0]: secret 'x' needs exactly one of env or src",
        ),
        (
            "context: ctx\nplatforms:\n  - platform: linux/amd64\n    dockerfile: nope\n",
            "spec.yaml:4:17: platforms[0].dockerfile: file 'nope' does not exist",
        ),
        ("- a\n- b\n", "spec.yaml:1:1: the document must be a mapping of fields"),
    ],
)
def test_build_spec_errors_name_file_line_and_field(spec_dir: Path, body: str, expected: str) -> None:
    path = write(spec_dir, body)
    with pytest.raises(SpecError) as caught:
        load_build_spec(path, env={})
    message = str(caught.value).replace(str(spec_dir) + "/", "")
    assert message.startswith(expected), message
    assert "\n" not in message


def test_missing_dockerfile_in_context(spec_dir: Path) -> None:
    (spec_dir / "empty").mkdir()
    path = write(spec_dir, "context: empty\nplatforms: [linux/amd64]\n")
    with pytest.raises(SpecError, match=r"spec.yaml:1:1: dockerfile: no Dockerfile in the context"):
        load_build_spec(path, env={})


@pytest.mark.parametrize(
    "text, runner",
    [
        ("local", LocalRunner()),
        ("gitlab", GitLabRunner()),
        ("ssh://host", SSHRunner(host="host")),
        ("ssh://u@10.0.0.2:22", SSHRunner(host="10.0.0.2", user="u", port=22)),
    ],
)
def test_parse_runner(text: str, runner: object) -> None:
    assert parse_runner(text) == runner
    assert str(parse_runner(text)) == text


@pytest.mark.parametrize(
    "text, message",
    [
        ("remote", "unknown runner 'remote'"),
        ("http://h", "unknown scheme 'http'"),
        ("ssh://u:pw@h", "do not put a password"),
        ("ssh://h:99999", "port must be a number"),
        ("ssh://h/path", "nothing after"),
        ("ssh://", "host is missing"),
    ],
)
def test_parse_runner_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_runner(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("$A-${B}", "a-b"),
        ("${UNSET}", ""),
        ("${UNSET:-x}", "x"),
        ("${EMPTY:-y}", "y"),
        ("$$A", "$A"),
        ("no vars", "no vars"),
        ("${A}${A}", "aa"),
    ],
)
def test_expand_env(text: str, expected: str) -> None:
    assert expand_env(text, {"A": "a", "B": "b", "EMPTY": ""}) == expected


def test_manifest_tool_spec(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        image: myprivreg:5000/someimage:latest
        tags: ['1.0.0', '1.0']
        manifests:
          - image: myprivreg:5000/someimage:ppc64le
            platform:
              architecture: ppc64le
              os: linux
          - image: myprivreg:5000/someimage:armv7
            platform: {architecture: arm, os: linux, variant: v7}
            annotations: {com.example.note: hi}
          - image: myprivreg:5000/someimage:amd64
        """,
    )
    spec = load_manifest_spec(path)
    assert spec.tags == ["1.0.0", "1.0"]
    assert spec.manifests[1].platform is not None and spec.manifests[1].platform.variant == "v7"
    assert spec.manifests[2].platform is None
    assert spec.manifests[1].annotations == {"com.example.note": "hi"}


@pytest.mark.parametrize(
    "body, expected",
    [
        ("image: a\nmanifests:\n  - image: b\n    platform: {arch: x}\n", "spec.yaml:4:16: manifests[0].platform.arch: unknown field (did you mean 'architecture'?)"),
        ("image: a\nmanifests: []\n", "spec.yaml:2:12: manifests: list should have at least 1 item"),
        ("image: a\nmanifests:\n  - image: 'NOT VALID'\n", "spec.yaml:3:12: manifests[0].image: invalid reference"),
        ("manifests:\n  - image: b\n", "spec.yaml:1:1: image: required field is missing"),
        ("image: a\nmanifests:\n  - platform: {os: linux}\n", "spec.yaml:3:5: manifests[0].image: required field is missing"),
    ],
)
def test_manifest_spec_errors(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(SpecError) as caught:
        load_manifest_spec(path)
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(expected), str(caught.value)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="nope.yaml: file not found"):
        load_manifest_spec(tmp_path / "nope.yaml")


@pytest.mark.parametrize("kind", ["build", "manifest"])
def test_schema_command_prints_a_valid_json_schema(kind: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "multiarch.cli", "spec", "schema", "--kind", kind],
        capture_output=True,
        text=True,
        check=True,
    )
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    sample = (
        {"platforms": ["linux/amd64", {"platform": "linux/arm64", "runner": "ssh://u@h:22"}]}
        if kind == "build"
        else {"image": "a", "manifests": [{"image": "b", "platform": {"os": "linux"}}]}
    )
    assert not list(Draft202012Validator(schema).iter_errors(sample))
    bad = {"platforms": [{"platform": "linux/arm64", "runner": "sshh://h"}]} if kind == "build" else {"image": "a", "manifests": [{"imag": "b"}]}
    assert list(Draft202012Validator(schema).iter_errors(bad))


def test_schema_describes_fields_with_their_attribute_docstrings() -> None:
    # The models skip pydantic's use_attribute_docstrings (it reads their source at import);
    # `spec schema` adds the descriptions itself, also inside PlatformSpec's string-or-object.
    schema = SCHEMAS["build"].model_json_schema(mode="validation", schema_generator=SpecSchema)
    build_props = schema["properties"]
    assert build_props["image"]["description"].startswith("Registry repository (with or")
    platform = schema["$defs"]["PlatformSpec"]["anyOf"][1]["properties"]
    assert platform["runner_tags"]["description"].startswith("GitLab runner tags")
    settings = schema["$defs"]["SSHSettings"]["properties"]
    assert settings["options"]["description"] == "Extra `-o Key=Value` options."
