"""Parsing: directives, continuations, heredocs, forms, every instruction and flag, errors."""

import pytest

from builder.dockerfile import (
    AddInstruction,
    ArgDef,
    CmdInstruction,
    CopyInstruction,
    EntrypointInstruction,
    EnvInstruction,
    ExposeInstruction,
    HealthcheckInstruction,
    KeyValue,
    LabelInstruction,
    MaintainerInstruction,
    MountType,
    OnbuildInstruction,
    RunInstruction,
    ShellInstruction,
    StopsignalInstruction,
    UserInstruction,
    VolumeInstruction,
    WorkdirInstruction,
    parse_dockerfile,
    parse_trigger,
)
from builder.dockerfile.mounts import CacheSharing
from builder.errors import DockerfileError


def body(text):
    """Instructions of the single stage of `FROM x` + text."""
    return parse_dockerfile("FROM busybox\n" + text).stages[0].instructions


def one(text):
    (instruction,) = body(text)
    return instruction


def test_directives_only_at_top():
    df = parse_dockerfile("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n  b\n")
    assert df.directives.syntax == "docker/dockerfile:1"
    assert df.escape == "`"
    assert df.stages[0].instructions[0].command.text == "a   b"


def test_directive_after_comment_is_a_comment():
    df = parse_dockerfile("# hello\n# escape=`\nFROM x\nRUN a \\\n b\n")
    assert df.escape == "\\"
    assert df.stages[0].instructions[0].command.text == "a  b"


def test_directive_after_instruction_is_a_comment():
    df = parse_dockerfile("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert df.escape == "\\"


def test_backtick_escape_keeps_backslashes_literal():
    df = parse_dockerfile("# escape=`\nFROM x\nWORKDIR C:\\app\nCOPY a `\n  C:\\dest\\\n")
    workdir, copy = df.stages[0].instructions
    assert workdir.path == "C:\\app"
    assert copy.dest == "C:\\dest\\"


@pytest.mark.parametrize("directive", ["# escape=x", "# escape=\\\n# escape=`"])
def test_bad_or_repeated_escape(directive):
    with pytest.raises(DockerfileError, match="Dockerfile:"):
        parse_dockerfile(directive + "\nFROM x\n")


def test_continuation_skips_comment_and_empty_lines():
    run = one("RUN apt-get update \\\n# a comment\n\n    && apt-get install -y curl\n")
    assert run.command.text == "apt-get update     && apt-get install -y curl"
    assert (run.line, run.end_line) == (2, 5)


def test_crlf_and_bom():
    df = parse_dockerfile("\ufeffFROM x\r\nRUN a \\\r\n b\r\n")
    assert df.stages[0].instructions[0].command.text == "a  b"


def test_keywords_case_insensitive():
    assert isinstance(one("copy a b"), CopyInstruction)
    assert parse_dockerfile("from x As Build").stages[0].name == "build"


@pytest.mark.parametrize(
    ("text", "args", "exec_form"),
    [
        ('CMD ["a", "b c"]', ("a", "b c"), True),
        ("CMD a b", ("a b",), False),
        ('CMD ["a", 1]', ('["a", 1]',), False),  # not a string array: shell form
        ("CMD [not json", ("[not json",), False),
        ('ENTRYPOINT ["/bin/sh"]', ("/bin/sh",), True),
        ('RUN ["echo", "$HOME"]', ("echo", "$HOME"), True),
        ("RUN echo $HOME", ("echo $HOME",), False),
        ("CMD []", (), True),
    ],
)
def test_exec_and_shell_forms(text, args, exec_form):
    command = one(text).command
    assert (command.args, command.exec_form) == (args, exec_form)


def test_shell_form_argv_uses_shell():
    cmd = one("CMD echo hi")
    assert cmd.command.argv(("/bin/sh", "-c")) == ("/bin/sh", "-c", "echo hi")


def test_heredoc_run_simple_and_chomp():
    run = one("RUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\nRUN true\n".split("RUN true")[0])
    assert run.heredocs[0].content == "\techo a\n\t\techo b\n"
    assert run.heredocs[0].body == "echo a\necho b\n"
    assert run.run_argv(("/bin/sh", "-c")).argv == ("/bin/sh", "-c", "echo a\necho b\n")


def test_heredoc_shebang_becomes_script():
    run = one("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n")
    argv = run.run_argv(("/bin/sh", "-c"))
    assert argv.argv == ("/dev/pipes/EOF",) and argv.script.body.startswith("#!")


def test_several_heredocs_in_one_run():
    run = one("RUN cat <<A && cat <<'B'\na $x\nA\nb $x\nB\n")
    assert [(h.name, h.expand) for h in run.heredocs] == [("A", True), ("B", False)]
    argv = run.run_argv(("/bin/sh", "-c")).argv
    assert argv[-1] == "cat <<A && cat <<'B'\na $x\nA\nb $x\nB"


@pytest.mark.parametrize(("opener", "expand"), [("<<EOF", True), ('<<"EOF"', False),
                                               ("<<'EOF'", False), ("<<E'O'F", False)])
def test_copy_heredoc_file_body_and_quoted_delimiter(opener, expand):
    copy = one(f"COPY {opener} /etc/motd\nhello $NAME\nEOF\n")
    assert copy.sources == () and copy.dest == "/etc/motd"
    (inline,) = copy.inline_files
    assert (inline.name, inline.data, inline.expand) == ("EOF", "hello $NAME\n", expand)
    expanded = copy.expand({"NAME": "world"}).inline_files[0].data
    assert expanded == ("hello world\n" if expand else "hello $NAME\n")


def test_copy_two_heredocs_and_a_path():
    copy = one("COPY <<A file.txt <<B /dst/\na\nA\nb\nB\n")
    assert copy.sources == ("file.txt",)
    assert [(f.name, f.data) for f in copy.inline_files] == [("A", "a\n"), ("B", "b\n")]


def test_unterminated_heredoc():
    with pytest.raises(DockerfileError, match="Dockerfile:2: RUN: unterminated heredoc"):
        parse_dockerfile("FROM x\nRUN <<EOF\necho\n")


def test_heredoc_ignored_outside_run_copy_add():
    assert one("LABEL a=<<EOF").pairs == (KeyValue("a", "<<EOF"),)


def test_env_forms_and_expansion_uses_previous_values():
    env = one("ENV a=b c=$a")
    assert env.pairs == (KeyValue("a", "b"), KeyValue("c", "$a"))
    assert env.expand({"a": "old"}).pairs == (KeyValue("a", "b"), KeyValue("c", "old"))
    legacy = one("ENV PATH /usr/bin:/bin extra")
    assert legacy.pairs == (KeyValue("PATH", "/usr/bin:/bin extra"),)
    quoted = one('ENV msg="hello world" other=x\\ y')
    assert quoted.expand({}).pairs == (KeyValue("msg", "hello world"), KeyValue("other", "x y"))


def test_label_and_maintainer():
    label = one('LABEL "com.example.v"="1.0" desc="a b"')
    assert label.expand({}).pairs == (KeyValue("com.example.v", "1.0"), KeyValue("desc", "a b"))
    assert one("MAINTAINER Jane <j@x>").name == "Jane <j@x>"


def test_simple_instructions():
    assert one("EXPOSE 80/tcp 443").ports == ("80/tcp", "443")
    assert one('VOLUME ["/a", "/b"]').paths == ("/a", "/b")
    assert one("VOLUME /a /b").paths == ("/a", "/b")
    assert one("USER app:app").user == "app:app"
    assert one("WORKDIR /my dir").path == "/my dir"
    assert one("STOPSIGNAL SIGTERM").signal == "SIGTERM"
    assert one('SHELL ["/bin/bash", "-c"]').shell == ("/bin/bash", "-c")
    assert one("ARG a b=1 c=").args == (ArgDef("a"), ArgDef("b", "1"), ArgDef("c", ""))


def test_copy_and_add_flags():
    copy = one("COPY --from=build --chown=app:app --chmod=755 --link --parents "
               "--exclude=*.md --exclude=tmp a b /dst/")
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.parents) == (
        "build", "app:app", "755", True, True)
    assert copy.excludes == ("*.md", "tmp") and copy.sources == ("a", "b")
    add = one("ADD --checksum=sha256:abc --keep-git-dir=true --link=false http://x/y /y")
    assert (add.checksum, add.keep_git_dir, add.link) == ("sha256:abc", True, False)
    assert one('COPY ["a b", "/c d/"]').sources == ("a b",)


def test_run_flags_and_mounts():
    run = one("RUN --network=none --security=insecure "
              "--mount=type=cache,target=/root/.cache,sharing=locked,id=pip "
              "--mount=type=secret,id=tok,required "
              "--mount=type=bind,from=build,source=/out,target=/in,rw "
              "--mount=type=tmpfs,target=/tmp,size=64m "
              "--mount=type=ssh "
              "--mount=target=/ctx make")
    assert (run.network, run.security) == ("none", "insecure")
    cache, secret, bind, tmpfs, ssh, default = run.mounts
    assert (cache.type, cache.id, cache.sharing, cache.readonly) == (
        MountType.CACHE, "pip", CacheSharing.LOCKED, False)
    assert (secret.target, secret.required, secret.mode) == ("/run/secrets/tok", True, 0o400)
    assert (bind.from_, bind.source, bind.readonly) == ("build", "/out", False)
    assert tmpfs.size == 64 * 1024 * 1024
    assert (ssh.id, ssh.mode) == ("default", 0o600)
    assert (default.type, default.readonly) == (MountType.BIND, True)


def test_run_mount_options_expand():
    run = one("RUN --mount=type=cache,target=/c,id=$ID true")
    assert run.expand({"ID": "cache-1"}).mounts[0].id == "cache-1"
    assert run.command.text == "true"


def test_healthcheck():
    hc = one("HEALTHCHECK --interval=1m30s --timeout=5s --start-period=1.5s "
             "--start-interval=2s --retries=3 CMD curl -f http://localhost/")
    assert hc.test == ("CMD-SHELL", "curl -f http://localhost/")
    assert (hc.interval, hc.timeout, hc.start_period, hc.retries) == (
        90 * 10**9, 5 * 10**9, 1_500_000_000, 3)
    assert one('HEALTHCHECK CMD ["true"]').test == ("CMD", "true")
    assert one("HEALTHCHECK NONE").config_test == ["NONE"]


def test_onbuild_recorded_and_triggers_parse():
    onbuild = one("ONBUILD COPY . /app")
    assert onbuild.expression == "COPY . /app"
    assert isinstance(onbuild.trigger, CopyInstruction)
    assert isinstance(parse_trigger("RUN --mount=type=cache,target=/c make"), RunInstruction)


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("COPPY a b", "Dockerfile:2: unknown instruction 'COPPY'", "did you mean COPY?"),
        ("COPY --frm=x a b", "Dockerfile:2: COPY: unknown flag: --frm", "did you mean --from?"),
        ("ADD --from=x a b", "ADD: unknown flag: --from", None),
        ("RUN --mount=type=nfs,target=/x true", "unsupported mount type", None),
        ("RUN --mount=type=cache true", "has no target", None),
        ("RUN --mount=type=cache,target=/x,bogus=1 true", "unexpected key 'bogus'", None),
        ("RUN --network=bridge true", "unsupported network mode", None),
        ("COPY a", "requires at least two arguments", None),
        ("COPY --link=maybe a b", "invalid boolean", None),
        ("COPY --from a b", "missing a value on flag: --from", None),
        ("ENV a", "ENV must have two arguments", None),
        ("ENV a=1 b", "can't find =", None),
        ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form", None),
        ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative", None),
        ("HEALTHCHECK --interval=1us CMD true", "cannot be less than 1ms", None),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD", None),
        ("HEALTHCHECK BOGUS x", "Unknown type", None),
        ("HEALTHCHECK NONE x", "takes no arguments", None),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD", None),
        ("ONBUILD FROM x", "isn't allowed as an ONBUILD trigger", None),
        ("WORKDIR", "requires exactly one argument", None),
        ("EXPOSE", "requires at least one argument", None),
        ("RUN", "RUN requires at least one argument", None),
        ("CMD --foo x", "unknown flag: --foo", "this instruction takes no flags"),
    ],
)
def test_errors_name_file_line_and_hint(text, message, hint):
    with pytest.raises(DockerfileError) as info:
        parse_dockerfile("FROM busybox\n" + text + "\n")
    assert message in str(info.value)
    assert str(info.value).startswith("Dockerfile:2")
    if hint:
        assert info.value.hint == hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file with no instructions"),
        ("# only a comment\n", "file with no instructions"),
        ("ARG x\n", "no FROM instruction"),
        ("RUN true\nFROM x\n", "Dockerfile:1: RUN: no build stage in current context"),
        ("FROM a AS x\nFROM b AS X\n", "duplicate stage name 'x'"),
        ("FROM a AS 1x\n", "invalid name for build stage"),
        ("FROM a b\n", "FROM requires either one or three arguments"),
    ],
)
def test_file_level_errors(text, message):
    with pytest.raises(DockerfileError, match=message):
        parse_dockerfile(text)


def test_every_instruction_type_is_produced():
    text = ("RUN a\nCMD a\nLABEL a=b\nMAINTAINER m\nEXPOSE 1\nENV a=b\nADD a b\nCOPY a b\n"
            "ENTRYPOINT a\nVOLUME /v\nUSER u\nWORKDIR /w\nARG a\nONBUILD RUN a\n"
            "STOPSIGNAL 9\nHEALTHCHECK NONE\nSHELL [\"sh\"]\n")
    kinds = [type(i) for i in body(text)]
    assert kinds == [RunInstruction, CmdInstruction, LabelInstruction, MaintainerInstruction,
                     ExposeInstruction, EnvInstruction, AddInstruction, CopyInstruction,
                     EntrypointInstruction, VolumeInstruction, UserInstruction,
                     WorkdirInstruction, type(body("ARG a")[0]), OnbuildInstruction,
                     StopsignalInstruction, HealthcheckInstruction, ShellInstruction]
