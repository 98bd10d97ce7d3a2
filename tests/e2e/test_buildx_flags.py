"""buildx's flags on `multiarch build`, in the flag form and in the spec: real RUN steps on
amd64 and arm64 (QEMU), the real registry, results read back with skopeo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.test_build import file_in_image, skopeo
from multiarch.plan import make_plan
from multiarch.runners.ssh import handed_files, remote_script
from multiarch.spec import load_build_spec
from tests.e2e.test_gitlab import generate
from tests.e2e.test_ssh import SSHHost, ssh_host  # noqa: F401  # the sshd fixture
from tests.fixtures.registry import RegistryHandle, unique_repo

DOCKERFILE = """
FROM {base}
RUN --mount=type=secret,id=TOKEN test "$(cat /run/secrets/TOKEN)" = s3cret \\
    && cat /etc/hosts > /hosts.txt && ls /sys/class/net > /nets.txt
COPY hello.txt /hello.txt
"""


def multiarch(*argv: str, cwd: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    env.update(TOKEN="s3cret", MULTIARCH_CACHE_DIR=str(store))
    return subprocess.run(
        [sys.executable, "-m", "multiarch.cli", *argv],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )  # fmt: skip


def project(tmp_path: Path, base: str) -> Path:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (context / "hello.txt").write_text("hello\n")
    return context


def check_image(tmp_path: Path, image: str, digest: str) -> None:
    """What every setting below must have produced, read with skopeo."""
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}"))
    assert skopeo("inspect", "--format", "{{.Digest}}", "--tls-verify=false",
                  f"docker://{image}").strip() == digest  # fmt: skip
    assert index["annotations"]["org.example.index"] == "idx"
    assert [e["annotations"] for e in index["manifests"]] == [{"org.example.desc": "d"}] * 2
    layout = tmp_path / "pulled"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{image}", f"oci:{layout}:x")
    blobs = layout / "blobs" / "sha256"
    for entry in index["manifests"]:
        manifest = json.loads((blobs / entry["digest"].split(":")[1]).read_bytes())
        expected = {"org.example.each": "m"}
        if entry["platform"]["architecture"] == "arm64":
            expected["org.example.arm"] = "yes"
        assert manifest["annotations"] == expected
        config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
        assert config["config"]["Labels"]["com.example.label"] == "1"
        hosts = file_in_image(layout, entry["digest"], "hosts.txt")
        assert "127.0.0.2\tdb.internal" in hosts.splitlines()
        assert file_in_image(layout, entry["digest"], "nets.txt") == "lo"  # --network none


def test_buildx_flags_in_the_flag_form(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    project(tmp_path, busybox_image)
    image = f"{registry.host}/{unique_repo('buildx')}:v1"
    cache = f"{registry.host}/{unique_repo('buildx-cache')}:buildcache"
    flags = [
        "build", "app", "--platform", "linux/amd64,linux/arm64", "-t", image, "--push",
        "--secret", "id=TOKEN", "--label", "com.example.label=1",  # buildx: the variable TOKEN
        "--annotation", "org.example.each=m",
        "--annotation", "manifest[linux/arm64]:org.example.arm=yes",
        "--annotation", "index:org.example.index=idx",
        "--annotation", "manifest-descriptor:org.example.desc=d",
        "--add-host", "db.internal:127.0.0.2", "--network", "none", "--isolation", "namespace",
        "--pull", "--cache-to", f"type=registry,ref={cache},mode=max",
    ]  # fmt: skip
    done = multiarch(*flags, "--iidfile", "iid", "-q", cwd=tmp_path, store=tmp_path / "s1")
    assert done.returncode == 0, done.stderr
    digest = (tmp_path / "iid").read_text()
    assert done.stdout == f"{digest}\n"  # -q: the digest alone
    check_image(tmp_path, image, digest)
    # A fresh store: the RUN steps come from the registry cache (--cache-from)...
    from_cache = [f if not f.startswith("type=registry") else f.replace(",mode=max", "")
                  for f in flags]  # fmt: skip
    from_cache[from_cache.index("--cache-to")] = "--cache-from"
    again = multiarch(*from_cache, "--progress", "plain", cwd=tmp_path, store=tmp_path / "s2")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("CACHED") == 4, again.stderr  # RUN and COPY, two platforms
    # ...and --no-cache looks nothing up: every step runs again. --cache-from alone only
    # reads: the new RUN entries (another host, another key) stay out of the repository.
    cache_repo = cache.rsplit(":", 1)[0]
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{cache_repo}"))["Tags"]
    fresh = multiarch(*from_cache, "--no-cache", "--add-host", "other.internal:127.0.0.3",
                      "--progress", "plain", cwd=tmp_path, store=tmp_path / "s3")  # fmt: skip
    assert fresh.returncode == 0, fresh.stderr
    assert "CACHED" not in fresh.stderr
    after = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{cache_repo}"))["Tags"]
    assert sorted(after) == sorted(tags)


def test_buildx_settings_in_the_spec(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    project(tmp_path, busybox_image)
    image = f"{registry.host}/{unique_repo('buildx-spec')}"
    cache = f"{registry.host}/{unique_repo('buildx-cache')}"
    (tmp_path / "build.yaml").write_text(textwrap.dedent(f"""
        image: {image}
        tags: [v1]
        context: app
        secrets: [{{id: TOKEN, env: TOKEN}}]
        labels: {{com.example.label: 1}}
        annotations:
          org.example.index: idx
          manifest:org.example.each: m
          manifest[linux/arm64]:org.example.arm: "yes"
          manifest-descriptor:org.example.desc: d
        add_hosts: ["db.internal:127.0.0.2"]
        network: none
        pull: true
        cache_to: ["type=registry,ref={cache}:buildcache,mode=max"]
        no_cache: true
        platforms: [linux/amd64, linux/arm64]
    """))  # fmt: skip
    done = multiarch("build", "build.yaml", "--isolation", "namespace", "--iidfile", "iid",
                     "--progress", "plain", cwd=tmp_path, store=tmp_path / "s1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "CACHED" not in done.stderr
    check_image(tmp_path, f"{image}:v1", (tmp_path / "iid").read_text())
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{cache}"))["Tags"]
    assert tags, "no_cache still records every step in the cache repository"


def test_call_check_plans_every_platform_and_builds_nothing(
    tmp_path: Path, busybox_image: str
) -> None:
    project(tmp_path, busybox_image)
    done = multiarch("build", "app", "--platform", "linux/amd64,linux/arm64", "--call", "check",
                     "-o", f"oci:{tmp_path}/out", cwd=tmp_path, store=tmp_path / "s")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# linux/amd64\n") and "# linux/arm64\n" in done.stdout
    assert "RUN" in done.stdout
    assert not (tmp_path / "out").exists()
    short = multiarch("build", "app", "--platform", "linux/amd64", "--check",
                      cwd=tmp_path, store=tmp_path / "s")  # fmt: skip
    assert short.returncode == 0 and short.stdout.startswith("# linux/amd64\n")


@pytest.mark.parametrize(
    ("flag", "hint"),
    [
        (["--load"], "-o docker-archive:FILE.tar"),
        (["--ssh", "default"], "--secret id=key,src=PATH"),
        (["--builder", "mybuilder"], "runner:"),
        (["--allow", "network.host"], "--network none"),
        (["--cache-to", "type=local,dest=/tmp/c"], "type=registry,ref=REG/REPO"),
        (["--cache-from", "type=registry,ref=r.example/a", "--cache-to",
          "type=registry,ref=r.example/b"], "one cache repository"),  # fmt: skip
        (["--add-host", "db"], "HOST:IP"),
        (["--annotation", "index-descriptor:k=v"], "use index:"),
        (["--annotation", "index[linux/amd64]:k=v"], "manifest levels only"),
        (["--secret", "id=x,src=a,env=B"], "exactly one of env or src"),
        (["--build-context", "x=oci-layout://dir"], "use a directory or docker-image://REF"),
        (["--build-context", "x=missing"], "'missing' does not exist"),
        (["--check", "--build-context", "scratch=."], "cannot be a base image here"),
    ],
)
def test_unsupported_or_bad_buildx_flags_are_one_line(
    tmp_path: Path, flag: list[str], hint: str
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    done = multiarch("build", "app", "--platform", "linux/amd64", *flag, cwd=tmp_path,
                     store=tmp_path / "s")  # fmt: skip
    assert done.returncode != 0
    assert hint in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # error: ... (and its hint: line)


def test_an_ssh_runner_gets_the_buildx_settings(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, ssh_host: SSHHost,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project(tmp_path, busybox_image)
    image = f"{registry.host}/{unique_repo('buildx-ssh')}:v1"
    (tmp_path / "build.yaml").write_text(textwrap.dedent(f"""
        image: {image}
        context: app
        ssh: {{config_file: {ssh_host.config_file}, executor: {ssh_host.executor}}}
        secrets: [{{id: TOKEN, env: TOKEN}}]
        platforms: [{{platform: linux/amd64, runner: "ssh://root@builder-test"}}]
    """))  # fmt: skip
    # The secret's value goes ahead of the context on stdin, never on the remote command line
    # (the remote `ps` shows it) nor in its environment.
    plan = make_plan(load_build_spec(tmp_path / "build.yaml"))
    monkeypatch.setenv("TOKEN", "s3cret")
    script = remote_script(plan, plan.jobs[0], handed_files(plan))
    assert "s3cret" not in script and "env=TOKEN" not in script
    done = multiarch(
        "build", "build.yaml", "--label", "com.example.label=1",
        "--annotation", "org.example.each=m",
        "--add-host", "db.internal:127.0.0.2", "--network", "none", "--isolation", "namespace",
        "-q", cwd=tmp_path, store=tmp_path / "s",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    layout = tmp_path / "pulled"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{image}", f"oci:{layout}:x")
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}"))
    assert index["manifests"][0]["digest"] != done.stdout.strip()
    entry = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / entry.split(":")[1]).read_bytes())
    assert manifest["annotations"] == {"org.example.each": "m"}
    assert "127.0.0.2\tdb.internal" in file_in_image(layout, entry, "hosts.txt").splitlines()
    assert file_in_image(layout, entry, "nets.txt") == "lo"


def test_a_gitlab_job_gets_the_buildx_settings(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    (tmp_path / "app").mkdir()
    dockerfile = f"FROM base\nCOPY --from=extras note.txt /\nRUN cat /etc/hosts > /hosts.txt\n"
    (tmp_path / "app" / "Dockerfile").write_text(dockerfile)
    (tmp_path / "extras").mkdir()
    (tmp_path / "extras" / "note.txt").write_text("from the named context\n")
    image = f"{registry.host}/{unique_repo('buildx-ci')}"
    (tmp_path / "build.yaml").write_text(textwrap.dedent(f"""
        image: {image}
        tags: [v1]
        context: app
        labels: {{com.example.label: 1}}
        annotations: {{index:org.example.index: idx, manifest:org.example.each: m}}
        add_hosts: ["db.internal:127.0.0.2"]
        contexts: {{base: "docker-image://{busybox_image}", extras: extras}}
        gitlab: {{insecure_registries: [{registry.host}]}}
        platforms: [{{platform: linux/amd64, runner: gitlab}}]
    """))  # fmt: skip
    _, pipeline = generate(tmp_path / "build.yaml", tmp_path)
    script = pipeline["build:linux-amd64"]["script"][1]
    assert "--add-host db.internal=127.0.0.2" in script
    assert "--annotation org.example.each=m" in script and "org.example.index" not in script
    assert '--build-context extras="$CI_PROJECT_DIR/extras"' in script
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "multiarch").write_text(f"#!/bin/sh\nexec {sys.executable} -m multiarch.cli \"$@\"\n")
    (bindir / "multiarch").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    env.update(PATH=f"{bindir}:{env['PATH']}", CI_PROJECT_DIR=str(tmp_path),
               MULTIARCH_CACHE_DIR=str(tmp_path / "s"))  # fmt: skip
    for name in ("build:linux-amd64", "index"):
        done = subprocess.run(["sh", "-c", "set -e\n" + "\n".join(pipeline[name]["script"])],
                              cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, f"{name}:\n{done.stdout}\n{done.stderr}"
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}:v1"))
    assert index["annotations"]["org.example.index"] == "idx"
    layout = tmp_path / "pulled"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{image}:v1", f"oci:{layout}:x")
    entry = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / entry.split(":")[1]).read_bytes())
    assert manifest["annotations"] == {"org.example.each": "m"}
    assert "127.0.0.2\tdb.internal" in file_in_image(layout, entry, "hosts.txt").splitlines()
    assert file_in_image(layout, entry, "note.txt") == "from the named context"


CONTEXTS_DOCKERFILE = """
FROM scratch AS extras
COPY hello.txt /note.txt

FROM base
COPY --from=extras note.txt /note.txt
RUN cat /note.txt > /seen.txt
"""


@pytest.mark.parametrize("form", ["flags", "spec"])
def test_named_build_contexts_replace_an_image_and_a_stage(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str, form: str
) -> None:
    context = project(tmp_path, busybox_image)
    (context / "Dockerfile").write_text(CONTEXTS_DOCKERFILE)
    (tmp_path / "extras").mkdir()
    (tmp_path / "extras" / "note.txt").write_text("from the named context\n")
    image = f"{registry.host}/{unique_repo('buildx-contexts')}:v1"
    base = f"docker-image://{busybox_image}"
    if form == "flags":
        argv = ["app", "--platform", "linux/amd64,linux/arm64", "-t", image,
                "--build-context", f"base={base}", "--build-context", "extras=extras"]  # fmt: skip
    else:
        (tmp_path / "build.yaml").write_text(textwrap.dedent(f"""
            image: {image}
            context: app
            contexts: {{base: "{base}", extras: extras}}
            platforms: [linux/amd64, linux/arm64]
        """))  # fmt: skip
        argv = ["build.yaml"]
    done = multiarch("build", *argv, cwd=tmp_path, store=tmp_path / "s")
    assert done.returncode == 0, done.stderr
    layout = tmp_path / "pulled"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{image}", f"oci:{layout}:x")
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}"))
    for entry in index["manifests"]:  # busybox's RUN ran: the base came from the context
        assert file_in_image(layout, entry["digest"], "seen.txt") == "from the named context"


def test_pull_resolves_a_moved_base_tag_again(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    """--pull (and the spec's pull: true) is what every build does: a base tag that moved
    between two builds sharing one store is resolved again at the registry."""
    base = f"{registry.host}/{unique_repo('buildx-base')}:moving"
    skopeo("copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{busybox_image}", f"docker://{base}")  # fmt: skip
    context = project(tmp_path, base)
    (context / "Dockerfile").write_text(
        f"FROM {base}\nRUN echo $(( $(cat /generation 2>/dev/null || echo 0) + 1 )) > /generation\n"
    )
    first = f"{registry.host}/{unique_repo('buildx-pull')}:one"
    done = multiarch("build", "app", "--platform", "linux/amd64", "-t", first, "--pull",
                     cwd=tmp_path, store=tmp_path / "s")  # fmt: skip
    assert done.returncode == 0, done.stderr
    skopeo("copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{first}", f"docker://{base}")  # the tag moves to the first build's image
    second = f"{registry.host}/{unique_repo('buildx-pull')}:two"
    (tmp_path / "build.yaml").write_text(
        f"image: {second}\ncontext: app\npull: true\nplatforms: [linux/amd64]\n"
    )
    done = multiarch("build", "build.yaml", cwd=tmp_path, store=tmp_path / "s")
    assert done.returncode == 0, done.stderr
    layout = tmp_path / "pulled"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{second}", f"oci:{layout}:x")
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{second}"))
    assert file_in_image(layout, index["manifests"][0]["digest"], "generation") == "2"
