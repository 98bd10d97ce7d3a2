"""The parser and lexer never crash: they return or raise our error types."""

from hypothesis import given, settings
from hypothesis import strategies as st

from builder.dockerfile import parse_dockerfile, plan_build
from builder.dockerfile.dockerignore import DockerIgnore
from builder.dockerfile.shell import ShellLex, ShellSyntaxError
from builder.errors import MultiarchError
from builder.oci.platform import parse_platform

KEYWORDS = ["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "LABEL", "ONBUILD", "HEALTHCHECK",
            "SHELL", "CMD", "EXPOSE", "VOLUME", "WORKDIR", "USER", "AS", "--from=", "--mount=",
            "<<EOF", "<<-'X'", "EOF", "X", "\\", "`", "#", "# escape=`", "$", "${", "}", ":-",
            '"', "'", "[", "]", "=", " ", "\t", "\n", "scratch", "type=cache,target=/x"]
dockerfile_text = st.lists(st.one_of(st.sampled_from(KEYWORDS), st.text(max_size=8)),
                           max_size=40).map("".join)
AMD64 = parse_platform("linux/amd64")


@settings(max_examples=400, deadline=None)
@given(dockerfile_text)
def test_parser_returns_or_raises_our_error(text):
    try:
        dockerfile = parse_dockerfile(text)
    except MultiarchError:
        return
    try:
        plan = plan_build(dockerfile, {}, None, AMD64, AMD64)
        scope = plan.scope()
        for step in plan.target.steps:
            scope.step(step.instruction)
    except MultiarchError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.dictionaries(st.sampled_from(["a", "b", "PWD"]), st.text(max_size=5)))
def test_lexer_returns_or_raises_syntax_error(word, env):
    try:
        ShellLex().process(word, env)
    except ShellSyntaxError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=20))
def test_dockerignore_returns_or_raises_our_error(patterns, path):
    try:
        DockerIgnore.from_text(patterns).excluded(path)
    except MultiarchError:
        pass
