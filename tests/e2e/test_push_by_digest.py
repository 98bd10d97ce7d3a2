"""`multiarch executor --push-by-digest REG/REPO`: the image lands in the repository under its
digest only; no tag (not even `latest`) is created. Checked with skopeo."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.e2e.test_executor import executor, own_store, write_context  # noqa: F401
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.fixtures.tags import registry_tags


def tags(registry: RegistryHandle, repo: str) -> list[str]:
    return registry_tags(registry.url, repo.removeprefix(f"{registry.host}/"))


def test_push_by_digest_leaves_no_tag(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    context = write_context(tmp_path, f"FROM {busybox_image}\nRUN echo hi > /hi\n")
    repo = f"{registry.host}/{unique_repo('bydigest')}"
    digest_file, names_file, result_file = tmp_path / "digest", tmp_path / "names", tmp_path / "result.json"
    executor("--context", str(context), "--push-by-digest", repo, "--insecure-registry", registry.host,
             "--digest-file", str(digest_file), "--image-name-with-digest-file", str(names_file),
             "--json-result", str(result_file))
    digest = digest_file.read_text()
    assert digest.startswith("sha256:")
    assert names_file.read_text() == f"{repo}@{digest}\n"
    report = json.loads(result_file.read_text())
    assert report["manifest"]["digest"] == digest
    assert report["destinations"] == [f"docker://{repo}@{digest}"]
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{repo}@{digest}"],
                         check=True, capture_output=True).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    assert tags(registry, repo) == []


def test_push_by_digest_beside_a_tagged_destination(
    tmp_path: Path, registry: RegistryHandle, busybox_image: str
) -> None:
    context = write_context(tmp_path, f"FROM {busybox_image}\nCMD [\"true\"]\n")
    tagged, untagged = (f"{registry.host}/{unique_repo('bydigest')}" for _ in range(2))
    digest_file = tmp_path / "digest"
    executor("--context", str(context), "--destination", f"{tagged}:v1", "--push-by-digest", untagged,
             "--insecure-registry", registry.host, "--digest-file", str(digest_file))
    digest = digest_file.read_text()
    assert tags(registry, tagged) == ["v1"]
    assert tags(registry, untagged) == []
    subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{untagged}@{digest}"],
                   check=True, capture_output=True)


def test_push_by_digest_refuses_a_tag_and_no_push(tmp_path: Path, busybox_image: str) -> None:
    context = write_context(tmp_path, f"FROM {busybox_image}\n")
    tagged = executor("--context", str(context), "--push-by-digest", "127.0.0.1:1/app:v1", check=False)
    assert tagged.returncode != 0
    assert "--push-by-digest '127.0.0.1:1/app:v1': name a repository, without a tag" in tagged.stderr
    both = executor("--context", str(context), "--push-by-digest", "127.0.0.1:1/app", "--no-push", check=False)
    assert both.returncode != 0 and "exclude each other" in both.stderr
