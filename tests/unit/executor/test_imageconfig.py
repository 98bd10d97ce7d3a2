"""Image config and history exactly as BuildKit writes them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from builder.executor import gofmt
from builder.executor.imageconfig import Health, ImageState, normalize_workdir, parse_port_spec, run_created_by
from builder.errors import BuildError
from builder.oci.models import ContainerConfig, ImageConfig, Platform

AMD64 = Platform(architecture="amd64", os="linux")
EPOCH = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def fresh() -> ImageState:
    return ImageState.scratch(AMD64, EPOCH)


def last(state: ImageState) -> tuple[str | None, bool | None]:
    entry = (state.config.history or [])[-1]
    return entry.created_by, entry.empty_layer


@pytest.mark.parametrize(
    "apply,created_by",
    [
        (lambda s: s.set_env([("A", "1"), ("B", "two words")]), "ENV A=1 B=two words"),
        (lambda s: s.set_labels([("a", "b")]), "LABEL a=b"),
        (lambda s: s.set_maintainer("me"), "MAINTAINER me"),
        (lambda s: s.set_cmd(["echo hi"], shell_form=True), 'CMD ["/bin/sh" "-c" "echo hi"]'),
        (lambda s: s.set_cmd(["a", 'b"c'], shell_form=False), 'CMD ["a" "b\\"c"]'),
        (lambda s: s.set_entrypoint(["/x"], shell_form=False), 'ENTRYPOINT ["/x"]'),
        (lambda s: s.expose(["80", "53/udp", "8000-8001"]), "EXPOSE [80/tcp 53/udp 8000/tcp 8001/tcp]"),
        (lambda s: s.set_user("app:app"), "USER app:app"),
        (lambda s: s.add_volumes(["/a", "/b"]), "VOLUME [/a /b]"),
        (lambda s: s.set_stop_signal("SIGKILL"), "STOPSIGNAL SIGKILL"),
        (lambda s: s.set_shell(["/bin/bash", "-c"]), "SHELL [/bin/bash -c]"),
        (lambda s: s.add_arg([("A", "1"), ("B", None)]), "ARG A=1 B"),
        (
            lambda s: s.set_healthcheck(Health(["CMD-SHELL", "true"], interval_ns=90 * 10**9, retries=3)),
            "HEALTHCHECK {Test:[CMD-SHELL true] Interval:1m30s Timeout:0s StartPeriod:0s "
            "StartInterval:0s Retries:3}",
        ),
    ],
)
def test_metadata_history(apply, created_by: str) -> None:
    state = fresh()
    apply(state)
    assert last(state) == (created_by, True)
    entry = state.config.history[-1]
    assert entry.comment == "buildkit.dockerfile.v0" and entry.created == "2020-01-02T03:04:05Z"


def test_entrypoint_resets_inherited_cmd_but_keeps_cmd_of_this_stage() -> None:
    base = ImageConfig(architecture="amd64", os="linux", config=ContainerConfig(Cmd=["sh"]))
    state = ImageState.from_base(base)
    state.set_entrypoint(["/app"], shell_form=False)
    assert state.container.cmd is None
    state.set_cmd(["--x"], shell_form=False)
    state.set_entrypoint(["/app2"], shell_form=False)
    assert state.container.cmd == ["--x"]


def test_shell_applies_to_shell_form_cmd_and_entrypoint() -> None:
    # buildah ignores SHELL here; BuildKit (and we) use it.
    state = fresh()
    state.set_shell(["/bin/bash", "-o", "pipefail", "-c"])
    state.set_cmd(["echo hi"], shell_form=True)
    assert state.container.cmd == ["/bin/bash", "-o", "pipefail", "-c", "echo hi"]


def test_env_replaces_in_place_and_base_gets_path() -> None:
    state = ImageState.from_base(ImageConfig(architecture="amd64", os="linux", config=ContainerConfig(Env=["A=1"])))
    assert state.env == ["A=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    state.set_env([("A", "2"), ("B", "3")])
    assert state.env[0] == "A=2" and state.env[-1] == "B=3"


def test_onbuild_of_base_is_not_inherited_and_labels_are() -> None:
    base = ImageConfig(architecture="amd64", os="linux",
                       config=ContainerConfig(OnBuild=["RUN x"], Labels={"a": "b"}))
    state = ImageState.from_base(base)
    assert state.container.on_build is None and state.container.labels == {"a": "b"}


def test_run_created_by_lists_build_args_like_buildkit() -> None:
    assert run_created_by(["/bin/sh", "-c", "make"], [], {}) == "RUN /bin/sh -c make"
    assert (run_created_by(["/bin/sh", "-c", "make"], [("A", "1"), ("B", "x")], {"B": "y"})
            == "RUN |2 A=1 B=y /bin/sh -c make")


@pytest.mark.parametrize("current,path,expected", [
    ("/", "app", "/app"), ("/app", "sub/../x", "/app/x"), ("/a", "/b/", "/b"), ("/", "/", "/"),
])
def test_workdir(current: str, path: str, expected: str) -> None:
    assert normalize_workdir(current, path) == expected


@pytest.mark.parametrize("bad", ["http", "70000", "80/xyz"])
def test_bad_ports(bad: str) -> None:
    with pytest.raises(BuildError):
        parse_port_spec(bad)


def test_bad_stop_signal() -> None:
    with pytest.raises(BuildError):
        fresh().set_stop_signal("SIGNOPE")


def test_finalize_sets_platform_and_created() -> None:
    state = fresh()
    state.set_env([("A", "1")])
    state.finalize(Platform(architecture="arm64", os="linux", variant="v8"))
    assert (state.config.architecture, state.config.variant, state.config.created) == ("arm64", "v8", "2020-01-02T03:04:05Z")


@pytest.mark.parametrize("ns,text", [(0, "0s"), (5 * 10**8, "500ms"), (3_600 * 10**9 + 1, "1h0m0.000000001s")])
def test_go_duration(ns: int, text: str) -> None:
    assert gofmt.duration(ns) == text
