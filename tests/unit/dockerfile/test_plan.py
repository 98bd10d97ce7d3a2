"""ARG scoping, platform ARGs, expansion per instruction, stages and the build plan."""

import pytest

from builder.dockerfile import BaseKind, KeyValue, parse_dockerfile, plan_build
from builder.errors import DockerfileError
from builder.oci.platform import parse_platform

AMD64 = parse_platform("linux/amd64")


def plan(text, build_args=None, target=None, platform="linux/amd64", build="linux/amd64"):
    return plan_build(parse_dockerfile(text), build_args or {}, target,
                      parse_platform(platform), parse_platform(build))


def run_stage(text, base_env=(), **kwargs):
    """Drive the target stage through a StageScope as the builder does; return the scope and
    the expanded instructions."""
    p = plan(text, **kwargs)
    scope = p.scope(list(base_env))
    expanded = [scope.step(step.instruction) for step in p.target.steps]
    return scope, expanded


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("linux/amd64", {"TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux",
                         "TARGETARCH": "amd64", "TARGETVARIANT": ""}),
        ("linux/arm64", {"TARGETPLATFORM": "linux/arm64", "TARGETARCH": "arm64",
                         "TARGETVARIANT": ""}),
        ("linux/arm64/v8", {"TARGETPLATFORM": "linux/arm64", "TARGETVARIANT": ""}),
        ("linux/arm/v7", {"TARGETPLATFORM": "linux/arm/v7", "TARGETARCH": "arm",
                          "TARGETVARIANT": "v7"}),
        ("linux/arm", {"TARGETPLATFORM": "linux/arm/v7", "TARGETVARIANT": "v7"}),
    ],
)
def test_platform_args_as_buildkit(platform, expected):
    names = " ".join(expected)
    scope, _ = run_stage(f"FROM x\nARG {names} BUILDPLATFORM BUILDARCH BUILDOS BUILDVARIANT\n",
                         platform=platform)
    for key, value in expected.items():
        assert scope.env[key] == value
    assert (scope.env["BUILDPLATFORM"], scope.env["BUILDARCH"]) == ("linux/amd64", "amd64")
    assert scope.env["BUILDOS"] == "linux" and scope.env["BUILDVARIANT"] == ""


def test_platform_args_need_declaration_inside_stage():
    _, (copy,) = run_stage("FROM x\nCOPY a /$TARGETARCH\n", platform="linux/arm64")
    assert copy.dest == "/"


def test_platform_args_usable_in_from_without_declaration():
    p = plan("FROM --platform=$BUILDPLATFORM golang AS b\nFROM alpine:$TARGETARCH\n"
             "COPY --from=b /out /out\n", platform="linux/arm64")
    assert p.stages[-1].base.name == "alpine:arm64"
    assert str(p.stage(0).platform) == "linux/amd64"  # build stage runs on the build platform
    assert str(p.target.platform) == "linux/arm64"


def test_global_arg_in_from_but_not_after_unless_redeclared():
    text = "ARG V=3.19\nFROM alpine:$V\nRUN x\nCOPY a /$V\nARG V\nCOPY a /$V\n"
    p = plan(text)
    assert p.target.base == p.target.base.__class__(BaseKind.IMAGE, "alpine:3.19")
    scope, (_, before, _, after) = run_stage(text)
    assert before.dest == "/" and after.dest == "/3.19"


def test_build_arg_overrides_global_and_stage_defaults():
    text = "ARG V=1\nFROM img:$V\nARG V\nARG W=def\nENV out=$V-$W\n"
    p = plan(text, build_args={"V": "2", "W": "x"})
    assert p.target.base.name == "img:2"
    scope, _ = run_stage(text, build_args={"V": "2", "W": "x"})
    assert scope.image_env["out"] == "2-x"


def test_global_arg_defaults_reference_earlier_globals():
    p = plan("ARG A=1\nARG B=${A}.0\nFROM img:$B\n")
    assert p.target.base.name == "img:1.0"


def test_env_overrides_arg_and_base_env_feeds_expansion():
    text = "FROM x\nARG V=arg\nENV V=env\nWORKDIR /$V\nUSER $HOME_USER\n"
    scope, (_, _, workdir, user) = run_stage(text, base_env=["HOME_USER=app", "PATH=/bin"])
    assert workdir.path == "/env" and user.user == "app"
    assert scope.image_env == {"HOME_USER": "app", "PATH": "/bin", "V": "env"}


def test_arg_values_stay_out_of_image_env_but_reach_run():
    scope, _ = run_stage("FROM x\nARG TOKEN=abc\n")
    assert "TOKEN" not in scope.image_env
    assert "TOKEN=abc" in scope.run_env()
    assert scope.args_in_scope() == (KeyValue("TOKEN", "abc"),)


def test_proxy_args_usable_without_declaration_and_kept_out_of_history():
    scope, _ = run_stage("FROM x\nRUN curl example\n", build_args={"HTTP_PROXY": "http://p:3128"})
    assert "HTTP_PROXY=http://p:3128" in scope.run_env()
    assert scope.args_in_scope() == ()
    p = plan("FROM x\n", build_args={"HTTP_PROXY": "http://p", "no_proxy": "a"})
    assert p.warnings == ()


def test_unused_build_args_warned():
    p = plan("FROM x\nARG USED\n", build_args={"USED": "1", "NOPE": "2", "TARGETARCH": "x"})
    assert p.warnings == ("build-arg not consumed by any stage: NOPE",)


def test_env_same_instruction_sees_old_values():
    scope, _ = run_stage("FROM x\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n")
    assert (scope.image_env["def"], scope.image_env["ghi"]) == ("hello", "bye")


def test_expansion_only_where_docker_expands():
    text = ("FROM x\nENV V=v P=80\nRUN echo $V\nCMD echo $V\nENTRYPOINT [\"$V\"]\n"
            "EXPOSE $P/udp\nLABEL $V=$V\nVOLUME /$V\nSTOPSIGNAL SIG$V\n"
            "ADD --chown=$V --checksum=$V $V /$V\nCOPY --from=$V --chmod=$V --exclude=$V $V /$V\n"
            "HEALTHCHECK CMD echo $V\nMAINTAINER $V\n")
    _, ins = run_stage(text)
    run, cmd, entry, expose, label, volume, stop, add, copy, hc, maint = ins[1:]
    assert run.command.text == "echo $V" and cmd.command.text == "echo $V"
    assert entry.command.args == ("$V",) and hc.test == ("CMD-SHELL", "echo $V")
    assert maint.name == "$V"
    assert expose.ports == ("80/udp",) and label.pairs == (KeyValue("v", "v"),)
    assert volume.paths == ("/v",) and stop.signal == "SIGv"
    assert (add.chown, add.checksum, add.sources, add.dest) == ("v", "v", ("v",), "/v")
    assert (copy.from_, copy.chmod, copy.excludes) == ("v", "v", ("v",))


def test_expansion_error_names_line():
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: WORKDIR: .*X: must be set"):
        run_stage("FROM x\nWORKDIR ${X:?must be set}\n")


def test_stage_names_case_insensitive_and_copy_from_index():
    text = ("FROM a AS Builder\nRUN x\nFROM b AS unused\nRUN y\n"
            "FROM c\nCOPY --from=BUILDER /x /x\nCOPY --from=0 /y /y\n")
    p = plan(text)
    assert [s.index for s in p.stages] == [0, 2]
    assert p.target.depends_on == (0,)
    assert p.resolve_from("builder").index == 0 and p.resolve_from("alpine:3") is None


def test_from_earlier_stage_and_platform_inherited():
    p = plan("FROM --platform=linux/amd64 a AS base\nFROM base\nRUN x\n",
             platform="linux/arm64")
    assert p.target.base.kind is BaseKind.STAGE and p.target.base.stage == 0
    assert str(p.target.platform) == "linux/amd64"


def test_target_selects_only_needed_stages_and_levels_show_parallelism():
    text = ("FROM a AS one\nFROM b AS two\nFROM c AS three\n"
            "FROM d AS final\nCOPY --from=one / /\nCOPY --from=two / /\n"
            "RUN --mount=type=bind,from=three,target=/t true\n")
    p = plan(text)
    assert p.levels == ((0, 1, 2), (3,))
    assert [s.name for s in plan(text, target="TWO").stages] == ["two"]


def test_scratch_and_stage_named_like_later_stage_is_image():
    p = plan("FROM later AS first\nFROM scratch AS later\n", target="first")
    assert p.target.base.kind is BaseKind.IMAGE
    assert plan("FROM scratch\n").target.base.kind is BaseKind.SCRATCH


@pytest.mark.parametrize(
    ("text", "target", "message"),
    [
        ("FROM a AS x\n", "y", "target stage 'y' could not be found"),
        ("FROM a AS x\nCOPY --from=x / /\n", None, "circular dependency"),
        ("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n", None,
         "circular dependency"),
        ("FROM a\nCOPY --from=5 / /\n", None, "invalid stage index 5"),
        ("ARG IMG\nFROM $IMG\n", None, "base name .* should not be blank"),
        ("FROM --platform=bogus/ a\n", None, "--platform"),
    ],
)
def test_plan_errors(text, target, message):
    with pytest.raises(DockerfileError, match=message):
        plan(text, target=target)


def test_unknown_copy_from_name_warns_and_is_an_image():
    p = plan("FROM a AS builder\nFROM b\nCOPY --from=buildr /x /x\n")
    assert any("did you mean builder?" in w for w in p.warnings)


def test_run_history_args_and_defaults_from_global():
    scope, _ = run_stage("ARG G=glob\nFROM x\nARG G\nARG L\n")
    assert scope.args_in_scope() == (KeyValue("G", "glob"),)
    assert scope.declared == {"G": "glob", "L": None}
