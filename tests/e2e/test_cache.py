"""The build cache (issue 7) end to end: `multiarch executor --cache` against the real registry,
real RUN steps; hits and misses read from the build's own step report (--metadata-file)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.registry import RegistryHandle, unique_repo

DOCKERFILE = """\
FROM {base}
COPY one.txt /one.txt
RUN cp /one.txt /r1
COPY two.txt /two.txt
RUN cp /two.txt /r2
ARG B=x
RUN echo "$B" > /r3
RUN echo done > /r4
CMD ["cat", "/r3"]
"""


@dataclass
class Build:
    steps: list[dict]
    stderr: str
    digest: str
    ref: str
    """Repository:tag the image was pushed to (without the registry)."""

    def fs_steps(self) -> dict[str, bool]:
        """Filesystem step -> whether it came from the cache."""
        return {s["instruction"]: bool(s.get("cached")) for s in self.steps
                if s["instruction"].startswith(("RUN", "COPY", "ADD", "WORKDIR"))}

    def ran(self) -> list[str]:
        return [name for name, cached in self.fs_steps().items() if not cached]


def _executor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "multiarch.cli", "executor", *args],
                          capture_output=True, text=True, env=env, cwd="/")


class Builder:
    def __init__(self, tmp_path: Path, registry: RegistryHandle, base: str) -> None:
        self.tmp = tmp_path
        self.registry = registry
        self.context = tmp_path / "context"
        self.context.mkdir()
        (self.context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
        self.one = f"one {uuid.uuid4()}\n"  # layers of one test never collide with another's
        (self.context / "one.txt").write_text(self.one)
        (self.context / "two.txt").write_text("two\n")
        self.cache_repo = f"{registry.host}/{unique_repo('cache')}"
        self.count = 0
        self.stderrs: list[str] = []

    def history(self) -> str:
        """Every build's stderr so far: an assertion's message says why a step missed."""
        return "\n".join(f"--- build {n} stderr:\n{text}" for n, text in enumerate(self.stderrs, 1))

    def build(self, *extra: str, fresh_runner: bool = True, cache_repo: bool = True,
              destination: str | None = None) -> Build:
        """fresh_runner: an empty local store, as on a new CI runner (only the registry cache)."""
        self.count += 1
        store = self.tmp / (f"store-{self.count}" if fresh_runner else "store")
        metadata = self.tmp / f"metadata-{self.count}.json"
        dest = destination or f"{self.registry.host}/{unique_repo('cached')}:v{self.count}"
        args = ["--context", str(self.context), "--destination", dest, "--insecure-registry", self.registry.host,
                "--cache=true", "--cache-dir", str(store), "--metadata-file", str(metadata), *extra]
        if cache_repo:
            args.append(f"--cache-repo={self.cache_repo}")
        done = _executor(*args)
        self.stderrs.append(done.stderr)
        assert done.returncode == 0, done.stderr
        report = json.loads(metadata.read_text())
        return Build(report["steps"], done.stderr, report["manifest"]["digest"], dest.split("/", 1)[1])


ALL_STEPS = ["COPY one.txt /one.txt", "RUN cp /one.txt /r1", "COPY two.txt /two.txt", "RUN cp /two.txt /r2",
             'RUN echo "$B" > /r3', "RUN echo done > /r4"]


def unpack(ref_or_layout: str, dest: Path) -> Path:
    """skopeo + umoci (both verify every digest) unpack the result."""
    dest.mkdir(parents=True, exist_ok=True)
    layout = dest / "layout"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", ref_or_layout, f"oci:{layout}:img"],
                   check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:img", str(dest / "bundle")], check=True,
                   capture_output=True)
    return dest / "bundle" / "rootfs"


def blob_file(registry: RegistryHandle, digest: str) -> Path:
    assert registry.storage is not None
    hex_ = digest.split(":")[1]
    return registry.storage / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


def step(build: Build, instruction: str) -> dict:
    return next(s for s in build.steps if s["instruction"] == instruction)


def test_no_change_rebuild_runs_no_step(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    first = b.build()
    assert first.ran() == ALL_STEPS, b.history()
    second = b.build()  # a fresh runner: only the registry cache
    assert second.ran() == [], b.history()
    assert second.stderr.count("CACHED") == len(ALL_STEPS)
    third = b.build(fresh_runner=False)  # a warm runner too
    assert third.ran() == [], b.history()
    rootfs = unpack(f"docker://{registry.host}/{second.ref}", tmp_path / "out")
    assert (rootfs / "r1").read_text() == b.one and (rootfs / "r2").read_text() == "two\n"
    assert (rootfs / "r3").read_text() == "x\n" and (rootfs / "r4").read_text() == "done\n"


def test_local_cache_without_a_repository(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    assert b.build(fresh_runner=False, cache_repo=False).ran() == ALL_STEPS, b.history()
    assert b.build(fresh_runner=False, cache_repo=False).ran() == [], b.history()
    # --cache-run-layers=false: RUN steps always run, COPY steps still come from the cache.
    runs = b.build("--cache-run-layers=false", fresh_runner=False, cache_repo=False).ran()
    assert runs == [s for s in ALL_STEPS if s.startswith("RUN")]


def test_changed_context_file_reruns_from_the_copy_that_reads_it(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    b.build()
    (b.context / "two.txt").write_text("changed\n")
    (b.context / "unused.txt").write_text("not copied\n")
    assert b.build().ran() == ALL_STEPS[2:], b.history()
    (b.context / "two.txt").chmod(0o600)  # modes count too
    assert b.build().ran() == ALL_STEPS[2:], b.history()


def test_ignored_file_does_not_invalidate(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    (b.context / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY . /src/\nRUN ls /src > /listing\n")
    (b.context / ".dockerignore").write_text("*.log\n")
    b.build()
    (b.context / "noise.log").write_text("ignored\n")
    assert b.build().ran() == [], b.history()
    (b.context / "new.txt").write_text("seen\n")
    assert b.build().ran() == ["COPY . /src/", "RUN ls /src > /listing"], b.history()


def test_changed_build_arg_reruns_only_steps_that_see_it(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    b.build()
    changed = b.build("--build-arg", "B=y")
    assert changed.ran() == ALL_STEPS[4:], b.history()
    assert b.build("--build-arg", "B=y").ran() == [], b.history()


def test_platforms_keep_separate_entries(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    b.build("--custom-platform", "linux/amd64")
    arm = b.build("--custom-platform", "linux/arm64")
    assert arm.ran() == ALL_STEPS, b.history()
    tags = httpx.get(f"{registry.url}/v2/{b.cache_repo.split('/', 1)[1]}/tags/list").json()["tags"]
    assert len(tags) == 2 * len(ALL_STEPS)
    assert b.build("--custom-platform", "linux/arm64").ran() == [], b.history()
    assert b.build("--custom-platform", "linux/amd64").ran() == [], b.history()


def test_corrupt_entry_falls_back_to_building(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    first = b.build()
    data = blob_file(registry, step(first, "COPY one.txt /one.txt")["layer"])
    original = data.read_bytes()
    try:
        data.write_bytes(bytes(len(original)))  # same size, wrong digest
        layout = tmp_path / "layout"
        rebuilt = b.build("--no-push", "--oci-layout-path", str(layout))
    finally:
        data.write_bytes(original)
    assert "warning: cache entry" in rebuilt.stderr and "unusable" in rebuilt.stderr
    assert rebuilt.ran() == ["COPY one.txt /one.txt"], b.history()
    rootfs = unpack(f"oci:{layout}:v{b.count}", tmp_path / "out")
    assert (rootfs / "r1").read_text() == b.one


def test_deleted_entry_falls_back_to_building(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    first = b.build()
    repo = b.cache_repo.split("/", 1)[1]
    layer = step(first, "RUN cp /two.txt /r2")["layer"]
    assert httpx.delete(f"{registry.url}/v2/{repo}/blobs/{layer}").status_code == 202
    rebuilt = b.build()
    assert "which the registry lacks" in rebuilt.stderr
    assert rebuilt.ran() == ["RUN cp /two.txt /r2"], b.history()
    rootfs = unpack(f"docker://{registry.host}/{rebuilt.ref}", tmp_path / "out")
    assert (rootfs / "r2").read_text() == "two\n"
    assert b.build().ran() == [], b.history()  # the entry was pushed again


def test_bad_cache_ttl_is_a_usage_error(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    done = _executor("--context", str(context), "--no-push", "--cache", "--cache-ttl", "two weeks")
    assert done.returncode == 2 and "--cache-ttl 'two weeks' is not a duration" in done.stderr


SPEC_DOCKERFILE = """
FROM {base}
RUN cat /proc/sys/kernel/random/uuid > /id && uname -m > /arch
COPY hello.txt /hello.txt
"""


def test_spec_cache_settings_reach_both_platforms(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.test_build import file_in_image, make_project, multiarch, skopeo

    image = f"{registry.host}/{unique_repo('spec-cache')}"
    cache_repo = f"{registry.host}/{unique_repo('spec-cache-layers')}"
    spec = make_project(tmp_path, busybox_image, dockerfile=SPEC_DOCKERFILE, spec=f"""
        image: {image}
        tags: [v1]
        context: app
        platforms: [linux/amd64, linux/arm64]
        cache:
          enabled: true
          repo: {cache_repo}
        """)

    def build(run: int) -> tuple[str, dict[str, str]]:
        monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / f"store-{run}"))  # a fresh runner each time
        done = multiarch("build", str(spec), "--insecure-registry", registry.host)
        layout = tmp_path / f"pulled-{run}"
        skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{image}:v1", f"oci:{layout}:v1")
        index = json.loads((layout / "index.json").read_text())
        top = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
        ids = {e["platform"]["architecture"]: file_in_image(layout, e["digest"], "id") + file_in_image(
            layout, e["digest"], "arch") for e in top["manifests"]}
        return done.stderr, ids

    first_log, first = build(1)
    assert "CACHED" not in first_log
    assert first["amd64"].endswith("x86_64") and first["arm64"].endswith("aarch64")
    second_log, second = build(2)
    assert second == first  # neither platform's RUN ran again, and neither got the other's layer
    assert second_log.count("CACHED") == 4  # RUN and COPY, on each platform


def test_multi_stage_cached_source_stage(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    b = Builder(tmp_path, registry, busybox_image)
    (b.context / "Dockerfile").write_text(f"""\
FROM {busybox_image} AS build
RUN cat /proc/sys/kernel/random/uuid > /out
FROM {busybox_image}
COPY --from=build /out /out
ARG C=1
RUN cat /out > /copied && echo "$C" >> /copied
""")
    first = b.build()
    assert len(first.ran()) == 3, b.history()
    assert b.build().ran() == [], b.history()
    changed = b.build("--build-arg", "C=2")  # only the last RUN sees C; it runs on the cached layers
    assert changed.ran() == ['RUN cat /out > /copied && echo "$C" >> /copied'], b.history()
    rootfs = unpack(f"docker://{registry.host}/{changed.ref}", tmp_path / "out")
    assert (rootfs / "copied").read_text() == (rootfs / "out").read_text() + "2\n"
