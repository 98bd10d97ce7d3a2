"""Multi-stage builds: independent stages build at the same time and feed the final one;
a stage FROM a stage runs that stage's ONBUILD triggers; only needed stages run."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from builder.errors import DockerfileError
from builder.executor.run import run_executor
from builder.events import discard
from builder.options import ExecutorOptions

DOCKERFILE = """\
FROM oci:{layout}:latest AS a
RUN echo a > /a
FROM oci:{layout}:latest AS b
RUN echo b > /b
FROM oci:{layout}:latest AS trig
ONBUILD RUN echo from-trigger > /t
FROM trig AS child
FROM oci:{layout}:latest AS never
RUN exit 1
FROM oci:{layout}:latest
COPY --from=a /a /out/
COPY --from=b /b /out/
COPY --from=child /t /out/
"""


def test_parallel_stages_and_triggers(tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(layout=busybox_layout))
    layout = tmp_path / "out"
    report = run_executor(ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                                          no_push=True, oci_layout_path=str(layout)), discard)
    assert {s.stage for s in report.steps} == {"a", "b", "trig", "child", "stage-5"}
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    out = tmp_path / "bundle/rootfs/out"
    assert sorted(p.read_text() for p in out.iterdir()) == ["a\n", "b\n", "from-trigger\n"]


def _build(tmp_path: Path, name: str, dockerfile: str) -> tuple[Path, Path]:
    context = tmp_path / f"ctx-{name}"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    layout = tmp_path / f"out-{name}"
    run_executor(ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                                 no_push=True, oci_layout_path=str(layout)), discard)
    return context, layout


def _config(layout: Path) -> dict:
    return json.loads(subprocess.run(["skopeo", "inspect", "--config", "--raw",
                                      f"oci:{layout}:latest"], check=True, capture_output=True,
                                     text=True).stdout)


def _set_onbuild(layout: Path, triggers: list[str]) -> None:
    """Rewrite the layout's image so that its config carries `triggers` (as another tool
    might have written them): new config, new manifest, index.json pointing at it."""
    blobs = layout / "blobs/sha256"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_text())
    config["config"]["OnBuild"] = triggers
    for holder, data in ((manifest["config"], config), (index["manifests"][0], manifest)):
        raw = json.dumps(data).encode()
        digest = hashlib.sha256(raw).hexdigest()
        (blobs / digest).write_bytes(raw)
        holder["digest"], holder["size"] = f"sha256:{digest}", len(raw)
    (layout / "index.json").write_text(json.dumps(index))


def test_base_image_triggers_run_first_and_are_not_inherited(
        tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    _, parent = _build(tmp_path, "parent", f"FROM oci:{busybox_layout}:latest\n"
                       "ONBUILD RUN echo from-image > /img-trigger\nONBUILD ENV T=1\n")
    assert _config(parent)["config"]["OnBuild"] == ["RUN echo from-image > /img-trigger", "ENV T=1"]
    _, child = _build(tmp_path, "child", f"FROM oci:{parent}:latest\n"
                      'RUN test "$T" = 1 && cat /img-trigger > /seen\n')
    assert "OnBuild" not in _config(child)["config"] or not _config(child)["config"]["OnBuild"]
    subprocess.run(["umoci", "unpack", "--image", f"{child}:latest", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    assert (tmp_path / "bundle/rootfs/seen").read_text() == "from-image\n"


@pytest.mark.parametrize("trigger,reason", [
    ("FROM busybox", "FROM isn't allowed as an ONBUILD trigger"),
    ("MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
])
def test_invalid_trigger_of_a_base_image_names_its_origin(
        tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch,
        trigger: str, reason: str) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    _, parent = _build(tmp_path, "parent", f"FROM oci:{busybox_layout}:latest\nENV A=1\n")
    _set_onbuild(parent, ["RUN true", trigger])
    with pytest.raises(DockerfileError) as caught:
        _build(tmp_path, "child", f"# child\nFROM oci:{parent}:latest\nRUN true\n")
    assert caught.value.message == (
        f"{tmp_path}/ctx-child/Dockerfile:2: {reason} (ONBUILD {trigger!r} of image oci:{parent}:latest)")
