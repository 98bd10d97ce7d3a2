"""Outputs and flags of `multiarch executor`: oci layout, docker archive, --target, tar://
contexts, ONBUILD triggers, reproducible digests, failures, unsupported flags; and the built
image runs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.e2e.test_executor import executor, inspect_config, own_store, write_context  # noqa: F401
from tests.fixtures.registry import RegistryHandle, unique_repo

APP = """\
FROM {base} AS build
RUN mkdir -p /out && printf '#!/bin/sh\\necho "app says $1"\\n' > /out/app && chmod 755 /out/app

FROM {base} AS unused
RUN exit 1

FROM {base}
COPY --from=build /out/app /usr/local/bin/app
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["hi"]
"""


def umoci_unpack(layout: Path, tag: str, dest: Path) -> Path:
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(dest)], check=True,
                   capture_output=True)
    return dest / "rootfs"


def test_oci_layout_and_docker_archive_outputs_run(tmp_path: Path, busybox_layout: Path) -> None:
    context = write_context(tmp_path, APP.format(base=f"oci:{busybox_layout}:latest"))
    layout = tmp_path / "layout"
    archive = tmp_path / "image.tar"
    result = executor("--context", str(context), "--no-push", "--oci-layout-path", str(layout),
                      "--tar-path", str(archive), "--destination", "example.com/app:1.0")
    assert "unused" not in result.stderr  # stages the target does not need never run
    inspected = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                                          check=True, capture_output=True, text=True).stdout)
    assert inspected["Architecture"] == "amd64"
    index = json.loads((layout / "index.json").read_text())
    tag = index["manifests"][0].get("annotations", {}).get("org.opencontainers.image.ref.name")
    rootfs = umoci_unpack(layout, tag or "latest", tmp_path / "bundle")
    out = subprocess.run(["chroot", str(rootfs), "/usr/local/bin/app", "hi"], capture_output=True,
                         text=True, check=True).stdout
    assert out == "app says hi\n"


def test_target_builds_only_that_stage(tmp_path: Path, busybox_layout: Path) -> None:
    context = write_context(tmp_path, APP.format(base=f"oci:{busybox_layout}:latest"))
    layout = tmp_path / "layout"
    executor("--context", str(context), "--no-push", "--oci-layout-path", str(layout),
             "--target", "build")
    rootfs = umoci_unpack(layout, _only_tag(layout), tmp_path / "bundle")
    assert (rootfs / "out/app").exists() and not (rootfs / "usr/local/bin/app").exists()


def _only_tag(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    return index["manifests"][0].get("annotations", {}).get("org.opencontainers.image.ref.name", "latest")


def test_tar_context_from_stdin(tmp_path: Path, busybox_layout: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, text in {"Dockerfile": f"FROM oci:{busybox_layout}:latest\nCOPY hello.txt /\n",
                           "hello.txt": "from a tar\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    layout = tmp_path / "layout"
    done = subprocess.run(
        ["python", "-m", "multiarch.cli", "executor", "--context", "tar://stdin", "--no-push",
         "--oci-layout-path", str(layout)],
        input=raw.getvalue(), capture_output=True, cwd="/",
    )
    assert done.returncode == 0, done.stderr.decode()
    rootfs = umoci_unpack(layout, _only_tag(layout), tmp_path / "bundle")
    assert (rootfs / "hello.txt").read_text() == "from a tar\n"


def test_onbuild_triggers_run_in_child(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    parent_ref = f"{registry.host}/{unique_repo('onbuild')}:parent"
    parent = write_context(tmp_path / "p", f"FROM {busybox_image}\nONBUILD RUN echo triggered > /trigger\n")
    executor("--context", str(parent), "--destination", parent_ref, "--insecure-registry", registry.host)
    child_ref = f"{registry.host}/{unique_repo('onbuild')}:child"
    child = write_context(tmp_path / "c", f"FROM {parent_ref}\nRUN cat /trigger > /seen\n")
    executor("--context", str(child), "--destination", child_ref, "--insecure-registry", registry.host)
    config = inspect_config(child_ref)
    assert not config["config"].get("OnBuild")
    assert "RUN /bin/sh -c echo triggered > /trigger # buildkit" in [h["created_by"] for h in config["history"]]


def test_reproducible_builds_give_one_digest(tmp_path: Path, busybox_layout: Path) -> None:
    context = write_context(tmp_path, f"FROM oci:{busybox_layout}:latest\nCOPY a.txt /\nRUN echo x > /x\n",
                            {"a.txt": "a\n"})
    digests = []
    for n in range(2):
        digest_file = tmp_path / f"digest{n}"
        os.utime(context / "a.txt", None)
        executor("--context", str(context), "--no-push", "--oci-layout-path", str(tmp_path / f"l{n}"),
                 "--reproducible", "--digest-file", str(digest_file))
        digests.append(digest_file.read_text())
    assert digests[0] == digests[1]
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", "--raw", f"oci:{tmp_path / 'l0'}"],
                                       capture_output=True, text=True, check=True).stdout)
    assert config["created"] == "1970-01-01T00:00:00Z"


def test_failing_run_names_stage_line_and_exit_code(tmp_path: Path, busybox_layout: Path) -> None:
    context = write_context(tmp_path, f"FROM oci:{busybox_layout}:latest AS app\nRUN echo doomed && exit 3\n")
    done = executor("--context", str(context), "--no-push", check=False)
    assert done.returncode == 1
    assert "Dockerfile:2" in done.stderr and "[app]" in done.stderr and "exit code: 3" in done.stderr
    assert "doomed" in done.stderr


def test_missing_destination_is_a_usage_error(tmp_path: Path) -> None:
    context = write_context(tmp_path, "FROM scratch\n")
    done = executor("--context", str(context), check=False)
    assert done.returncode == 2 and "--destination" in done.stderr


def test_zstd_layers_and_name_digest_files(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    context = write_context(tmp_path, f"FROM {busybox_image}\nRUN echo z > /z\n")
    repo = f"{registry.host}/{unique_repo('zstd')}"
    names, tags = tmp_path / "names", tmp_path / "tags"
    executor("--context", str(context), "--destination", f"{repo}:a", "--destination", f"{repo}:b",
             "--insecure-registry", registry.host, "--compression", "zstd",
             "--image-name-with-digest-file", str(names), "--image-name-tag-with-digest-file", str(tags))
    manifest = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{repo}:b"],
                                         check=True, capture_output=True, text=True).stdout)
    assert manifest["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    digest = names.read_text().split("@")[1].split()[0]
    assert names.read_text() == f"{repo}@{digest}\n{repo}@{digest}\n"
    assert tags.read_text() == f"{repo}:a@{digest}\n{repo}:b@{digest}\n"


@pytest.mark.parametrize("flags,needle", [
    (["--isolation", "container-root"], "refusing to overwrite a machine"),
])
def test_unsupported_modes_are_usage_errors(tmp_path: Path, flags: list[str], needle: str) -> None:
    context = write_context(tmp_path, "FROM scratch\n")
    done = executor("--context", str(context), "--no-push", *flags, check=False)
    assert done.returncode == 2 and needle in done.stderr
