"""docker:// transport against the real registry fixtures, checked with skopeo."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.errors import NotFoundError
from builder.oci.platform import host_platform, parse_platform
from builder.registry.options import RegistryOptions
from builder.transports import TransportContext, copy_image, open_destination, open_source, resolve_image
from tests.fixtures.images import image_layout, index_layout, make_image
from tests.fixtures.registry import RegistryHandle, unique_repo

HOST_ARCH = host_platform().architecture
OTHER_ARCH = "arm64" if HOST_ARCH != "arm64" else "amd64"


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout


def skopeo_flags(handle: RegistryHandle, prefix: str = "") -> list[str]:
    flags = [f"--{prefix}tls-verify={'true' if handle.tls else 'false'}"]
    if handle.username:
        flags.append(f"--{prefix}creds={handle.username}:{handle.password}")
    if handle.ca_file:
        flags.append(f"--{prefix}cert-dir={handle.ca_file.parent}")
    return flags


def merged_options(*handles: RegistryHandle) -> RegistryOptions:
    parts = [h.options() for h in handles]
    return RegistryOptions(
        insecure=frozenset().union(*(p.insecure for p in parts)),
        ca_files={k: v for p in parts for k, v in p.ca_files.items()},
        credentials={k: v for p in parts for k, v in p.credentials.items()},
    )


@pytest.fixture
def ctx(registry: RegistryHandle) -> Iterator[TransportContext]:
    context = TransportContext(registry_options=registry.options())
    yield context
    context.close()


def copy(ctx: TransportContext, src: str, dst: str, **kwargs):
    return copy_image(open_source(src, ctx), open_destination(dst, ctx), **kwargs)


def test_push_an_index_then_mount_into_another_repo(tmp_path: Path, registry: RegistryHandle, ctx: TransportContext) -> None:
    images = [make_image(HOST_ARCH), make_image(OTHER_ARCH, "v8")]
    index = index_layout(tmp_path / "src", images)
    first_repo, second_repo = unique_repo("copy"), unique_repo("copy")
    pushed = copy(ctx, f"oci:{tmp_path}/src", f"docker://{registry.image(first_repo, 'multi')}", all_platforms=True)
    assert pushed.descriptor.digest == index.digest
    assert (pushed.copied, pushed.mounted, pushed.skipped) == (6, 0, 0)
    assert run("skopeo", "inspect", "--raw", *skopeo_flags(registry), f"docker://{registry.image(first_repo, 'multi')}").encode() == index.data
    arm = json.loads(
        run("skopeo", "inspect", "--override-arch", OTHER_ARCH, *skopeo_flags(registry), f"docker://{registry.image(first_repo, 'multi')}")
    )
    assert arm["Architecture"] == OTHER_ARCH and arm["Layers"] == [l.digest for l in images[1].layers]

    mounted = copy(ctx, registry.image(first_repo, "multi"), registry.image(second_repo, "v1"), all_platforms=True)
    assert (mounted.copied, mounted.mounted, mounted.skipped) == (0, 6, 0)
    again = copy(ctx, registry.image(first_repo, "multi"), registry.image(second_repo, "v2"), all_platforms=True)
    assert (again.copied, again.mounted, again.skipped) == (0, 0, 6)
    assert run("skopeo", "inspect", "--raw", *skopeo_flags(registry), f"docker://{registry.image(second_repo, 'v2')}").encode() == index.data


def test_single_platform_from_a_registry_index(tmp_path: Path, registry: RegistryHandle, ctx: TransportContext) -> None:
    images = [make_image(HOST_ARCH), make_image(OTHER_ARCH)]
    index_layout(tmp_path / "src", images)
    repo = unique_repo("copy")
    copy(ctx, f"oci:{tmp_path}/src", registry.image(repo, "multi"), all_platforms=True)
    picked = copy(ctx, registry.image(repo, "multi"), f"oci:{tmp_path}/one:x", platform=parse_platform(f"linux/{OTHER_ARCH}"))
    assert picked.descriptor.digest == images[1].manifest.digest
    assert picked.copied == 3
    assert run("umoci", "ls", "--layout", str(tmp_path / "one")).split() == ["x"]
    resolved = resolve_image(open_source(registry.image(repo, "multi"), ctx))
    assert resolved.raw.digest == images[0].manifest.digest
    assert resolved.config.architecture == HOST_ARCH
    archive = tmp_path / "one.tar"
    copy(ctx, registry.image(repo, "multi"), f"docker-archive:{archive}:{registry.image(repo, 'multi')}")
    inspect = json.loads(run("skopeo", "inspect", f"docker-archive:{archive}"))
    assert inspect["Layers"] == list(images[0].diff_ids)


def test_we_read_what_skopeo_pushed(tmp_path: Path, registry: RegistryHandle, ctx: TransportContext) -> None:
    image = make_image(HOST_ARCH)
    image_layout(tmp_path / "src", image)
    repo = unique_repo("skopeo")
    run("skopeo", "copy", "-q", *skopeo_flags(registry, "dest-"), f"oci:{tmp_path}/src:latest", f"docker://{registry.image(repo, 'sk')}")
    resolved = resolve_image(open_source(f"docker://{registry.image(repo, 'sk')}", ctx))
    assert resolved.config.rootfs.diff_ids == list(image.diff_ids)
    copy(ctx, registry.image(repo, "sk"), f"oci:{tmp_path}/back:sk")
    run("skopeo", "copy", "-q", f"oci:{tmp_path}/back:sk", f"oci:{tmp_path}/sk2:sk")


def test_copy_between_two_registries_with_auth(
    tmp_path: Path, registry: RegistryHandle, basic_registry: RegistryHandle
) -> None:
    image = make_image(HOST_ARCH)
    image_layout(tmp_path / "src", image)
    repo = unique_repo("two")
    context = TransportContext(registry_options=merged_options(registry, basic_registry))
    try:
        copy(context, f"oci:{tmp_path}/src", registry.image(repo, "a"))
        result = copy(context, registry.image(repo, "a"), basic_registry.image(repo, "b"))
        assert (result.copied, result.mounted) == (3, 0)
        raw = run("skopeo", "inspect", "--raw", *skopeo_flags(basic_registry), f"docker://{basic_registry.image(repo, 'b')}")
        assert raw.encode() == image.manifest.data
    finally:
        context.close()


def test_missing_image_is_not_found_and_nothing_pushed(tmp_path: Path, registry: RegistryHandle, ctx: TransportContext) -> None:
    repo = unique_repo("missing")
    with pytest.raises(NotFoundError):
        copy(ctx, registry.image(repo, "nope"), f"oci:{tmp_path}/dst:x")
    assert not (tmp_path / "dst" / "index.json").exists()
