"""`multiarch build --insecure`: exactly the registries the build pushes to are relaxed."""

from __future__ import annotations

from pathlib import Path

from multiarch.coordinator import BuildOptions
from multiarch.spec import load_build_spec


def test_insecure_names_the_registries_the_build_pushes_to(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM base.example.com/busybox\n")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "image: registry.example.com:5000/group/app\n"
        "destinations: [other.example.com/mirror/app, 'oci:out:v1', 'docker-archive:app.tar']\n"
        "platforms: [linux/amd64]\n"
    )
    spec = load_build_spec(spec_file)
    named = BuildOptions(insecure_registries=("named.example.com",))
    assert named.for_spec(spec) == named  # without --insecure nothing changes
    options = BuildOptions(insecure=True, insecure_registries=("named.example.com",)).for_spec(spec)
    hosts = ("named.example.com", "other.example.com", "registry.example.com:5000")
    assert options.insecure_registries == hosts  # not the base image's registry
    flags = options.executor_flags()
    relaxed = [flags[i + 1] for i, flag in enumerate(flags) if flag == "--insecure-registry"]
    assert relaxed == list(hosts)
    registry_options = options.transport_context().registry_options
    assert registry_options.insecure == frozenset(hosts)
