"""kaniko's build modes: `--single-snapshot` (one layer per stage on its base)."""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.e2e.test_executor import (
    executor,
    inspect_config,
    own_store,  # noqa: F401
    unpack,
    write_context,
)
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.unit.fs.helpers import tree_state

STEPS = """\
FROM {base} AS build
RUN mkdir -p /out && echo built > /out/artifact

FROM {base}
RUN mkdir -p /app/sub && echo one > /app/a && echo tmp > /app/tmp && echo x > /app/sub/x
COPY hello.txt /app/hello.txt
ENV GREETING=hi
COPY --from=build /out/artifact /app/artifact
RUN rm /app/tmp /bin/ls && rm -r /app/sub && echo two >> /app/a
WORKDIR /app
"""


def _last_layer_names(image_dir: Path) -> list[str]:
    """Entry names of the image's top layer, read from the layout skopeo wrote."""
    layout = image_dir / "layout"
    blobs = layout / "blobs/sha256"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    top = blobs / manifest["layers"][-1]["digest"].split(":")[1]
    with tarfile.open(fileobj=gzip.open(top)) as tar:
        return tar.getnames()


@pytest.mark.parametrize("snapshotter", ["overlay", "walk"])
def test_single_snapshot_is_one_layer_with_the_same_tree(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, snapshotter: str
) -> None:
    context = write_context(tmp_path, STEPS.format(base=busybox_image), {"hello.txt": "hello\n"})
    repo = f"{registry.host}/{unique_repo('single')}"
    env = {**os.environ, "MULTIARCH_SNAPSHOTTER": snapshotter}
    common = ("--context", str(context), "--insecure-registry", registry.host)
    executor(*common, "--destination", f"{repo}:steps", env=env)
    done = executor(*common, "--destination", f"{repo}:single", "--single-snapshot", "--cache",
                    env=env)
    assert "the layer cache is not used" in done.stderr

    steps, single = inspect_config(f"{repo}:steps"), inspect_config(f"{repo}:single")
    base_layers = 1
    assert len(steps["rootfs"]["diff_ids"]) == base_layers + 4
    assert len(single["rootfs"]["diff_ids"]) == base_layers + 1
    # One history entry per instruction either way; only the last RUN keeps a layer.
    created_by = [h["created_by"] for h in steps["history"]]
    assert [h["created_by"] for h in single["history"]] == created_by
    with_layer = [h["created_by"] for h in single["history"] if not h.get("empty_layer")]
    assert with_layer == ["busybox rootfs", created_by[-2]]
    assert with_layer[-1].startswith("RUN /bin/sh -c rm /app/tmp")

    steps_root = unpack(registry, f"{repo}:steps", tmp_path / "steps")
    single_root = unpack(registry, f"{repo}:single", tmp_path / "single")
    assert tree_state(single_root, mtimes=False) == tree_state(steps_root, mtimes=False)
    assert (single_root / "app/a").read_text() == "one\ntwo\n"
    assert (single_root / "app/artifact").read_text() == "built\n"
    assert not (single_root / "bin/ls").exists() and not (single_root / "app/tmp").exists()
    assert not (single_root / "app/sub").exists() and (single_root / "bin/cat").exists()

    names = _last_layer_names(tmp_path / "single")
    assert "bin/.wh.ls" in names  # a base file deleted by a later step is a whiteout
    # Added by one step and removed by a later one: in no layer at all.
    gone = ("app/tmp", "app/.wh.tmp", "app/sub", "app/.wh.sub")
    assert not any(n.startswith(gone) for n in names)


def test_single_snapshot_of_steps_that_cancel_out_adds_no_layer(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    context = write_context(tmp_path, f"FROM {busybox_image}\nRUN echo x > /f\nRUN rm /f\n")
    ref = f"{registry.host}/{unique_repo('single')}:empty"
    executor("--context", str(context), "--insecure-registry", registry.host, "--destination", ref,
             "--single-snapshot")
    config = inspect_config(ref)
    assert len(config["rootfs"]["diff_ids"]) == 1
    assert [h.get("empty_layer", False) for h in config["history"]] == [False, True, True]
