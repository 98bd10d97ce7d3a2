"""Bounded hypothesis runs of the Dockerfile parser (and build planning) and the YAML spec
loaders: any input ends in a value or one of our errors (MultiarchError), never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.dockerfile import parse_dockerfile, plan_build
from builder.errors import MultiarchError
from builder.oci.models import Platform
from multiarch.spec import load_build_spec, load_manifest_spec

EXAMPLES = 200
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = ["FROM", "RUN", "COPY", "ADD", "ARG", "ENV", "WORKDIR", "USER", "CMD", "ENTRYPOINT", "LABEL",
            "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "MAINTAINER", "from", "# syntax="]
PIECES = ["busybox", "AS", "base", "--from=base", "--mount=type=cache,target=/c", "--mount=type=secret,id=s",
          "--platform=$BUILDPLATFORM", "$X", "${X:-y}", "${X:?e}", "${", "\\", "\\\n", "[\"a\",", "\"b\"]",
          "'", "\"", "<<EOF", "EOF", "=", "a=b", "--chmod=777", "/", "..", "\t", " ", "\n", "#", "-", "1",
          "NONE", "CMD", "\x00", "é", "$$", "--link", "--network=none", "--interval=1s"]
LINES = st.lists(st.sampled_from(KEYWORDS + PIECES), max_size=8).map(" ".join)
DOCKERFILES = st.one_of(st.lists(LINES, max_size=12).map("\n".join), st.text(max_size=300))
HOST = Platform(os="linux", architecture="amd64")


@FUZZ
@given(text=DOCKERFILES, args=st.dictionaries(st.sampled_from(["X", "BASE", "TARGETARCH"]), st.text(max_size=5)))
def test_dockerfile_parser_and_planner_raise_only_our_errors(text: str, args: dict[str, str]) -> None:
    try:
        plan_build(parse_dockerfile(text, "Dockerfile"), args, None, HOST, HOST)
    except MultiarchError as err:
        assert err.message


YAML_KEYS = ["image", "tags", "manifests", "platform", "platforms", "dockerfile", "context", "build_args",
             "destinations", "runner", "architecture", "os", "variant", "secrets", "cache", "annotations"]
YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
              st.sampled_from(["linux/amd64", "linux/arm64/v8", "reg/img:tag", "local", "ssh://u@h", "../x", ""])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(YAML_KEYS), inner, max_size=5)),
    max_leaves=12,
)


def _yaml_texts():
    import yaml

    structured = YAML_VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True))
    tokens = st.sampled_from(list(":-[]{}&*!|>'\"%@` \n\tab#,?") + YAML_KEYS)
    raw = st.lists(tokens, max_size=40).map("".join)
    return st.one_of(structured, raw)


@FUZZ
@given(text=_yaml_texts(), kind=st.sampled_from(["build", "manifest"]))
def test_spec_loaders_raise_only_our_errors(text: str, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            (load_build_spec if kind == "build" else load_manifest_spec)(path)
        except MultiarchError as err:
            assert err.message
