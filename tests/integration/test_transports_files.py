"""oci: and docker-archive: transports, checked with skopeo, umoci and podman."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from builder.errors import DigestMismatchError, NotFoundError, PlatformError, TransportError
from builder.oci.platform import host_platform, parse_platform
from builder.transports import copy_image, open_destination, open_source, resolve_image
from tests.fixtures.images import REF_NAME, image_layout, index_layout, make_image

HOST_ARCH = host_platform().architecture
OTHER_ARCH = "arm64" if HOST_ARCH != "arm64" else "amd64"


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout


def copy(src: str, dst: str, **kwargs):
    source, dest = open_source(src), open_destination(dst)
    try:
        return copy_image(source, dest, **kwargs)
    finally:
        source.close()
        dest.close()


def index_json(layout: Path) -> dict:
    return json.loads((layout / "index.json").read_text())


def test_oci_to_oci_keeps_tags_and_skips_present_blobs(tmp_path: Path) -> None:
    image = make_image(HOST_ARCH)
    image_layout(tmp_path / "src", image, "v1")
    first = copy(f"oci:{tmp_path}/src:v1", f"oci:{tmp_path}/dst:one")
    assert (first.copied, first.skipped) == (3, 0)
    assert first.descriptor.digest == image.manifest.digest
    second = copy(f"oci:{tmp_path}/src:v1", f"oci:{tmp_path}/dst:two")
    assert (second.copied, second.skipped) == (0, 3)
    entries = index_json(tmp_path / "dst")["manifests"]
    assert sorted(e["annotations"][REF_NAME] for e in entries) == ["one", "two"]
    for blob in (image.manifest, *image.blobs):
        assert (tmp_path / "dst/blobs/sha256" / blob.digest[7:]).read_bytes() == blob.data
    assert not list((tmp_path / "dst/blobs/sha256").glob(".tmp*"))
    # Re-tagging replaces the entry of that name only.
    other = make_image(HOST_ARCH)
    image_layout(tmp_path / "src2", other, "v1")
    copy(f"oci:{tmp_path}/src2:v1", f"oci:{tmp_path}/dst:two")
    named = {e["annotations"][REF_NAME]: e["digest"] for e in index_json(tmp_path / "dst")["manifests"]}
    assert named == {"one": image.manifest.digest, "two": other.manifest.digest}


def test_umoci_and_skopeo_read_our_layout(tmp_path: Path) -> None:
    image = make_image(HOST_ARCH)
    image_layout(tmp_path / "src", image)
    copy(f"oci:{tmp_path}/src:latest", f"oci:{tmp_path}/ours:v1")
    copy(f"oci:{tmp_path}/src:latest", f"oci:{tmp_path}/ours:v2")
    assert sorted(run("umoci", "ls", "--layout", str(tmp_path / "ours")).split()) == ["v1", "v2"]
    raw = run("skopeo", "inspect", "--raw", f"oci:{tmp_path}/ours:v1")
    assert raw.encode() == image.manifest.data
    run("skopeo", "copy", "-q", f"oci:{tmp_path}/ours:v2", f"oci:{tmp_path}/theirs:x")
    config = json.loads(run("skopeo", "inspect", "--config", f"oci:{tmp_path}/theirs:x"))
    assert config["rootfs"]["diff_ids"] == list(image.diff_ids)


def test_we_read_a_layout_skopeo_wrote(tmp_path: Path) -> None:
    images = [make_image(HOST_ARCH), make_image(OTHER_ARCH)]
    index_layout(tmp_path / "src", images)
    run("skopeo", "copy", "-q", "--all", f"oci:{tmp_path}/src:latest", f"oci:{tmp_path}/sk:multi")
    source = open_source(f"oci:{tmp_path}/sk:multi")
    resolved = resolve_image(source, parse_platform(f"linux/{OTHER_ARCH}"))
    assert resolved.raw.digest == images[1].manifest.digest
    assert resolved.config.rootfs.diff_ids == list(images[1].diff_ids)
    result = copy(f"oci:{tmp_path}/sk:multi", f"oci:{tmp_path}/back:all", all_platforms=True)
    assert result.copied == 6
    assert sorted(run("umoci", "ls", "--layout", str(tmp_path / "back")).split()) == ["all"]


def test_index_source_picks_host_platform_or_the_one_asked(tmp_path: Path) -> None:
    images = [make_image(OTHER_ARCH), make_image(HOST_ARCH)]
    index = index_layout(tmp_path / "src", images)
    host = copy(f"oci:{tmp_path}/src", f"oci:{tmp_path}/dst:host")
    assert host.descriptor.digest == images[1].manifest.digest
    other = copy(f"oci:{tmp_path}/src", f"oci:{tmp_path}/dst:other", platform=parse_platform(f"linux/{OTHER_ARCH}"))
    assert other.descriptor.digest == images[0].manifest.digest
    whole = copy(f"oci:{tmp_path}/src", f"oci:{tmp_path}/dst:all", all_platforms=True)
    assert whole.descriptor.digest == index.digest
    assert whole.skipped == 6 and whole.copied == 0
    with pytest.raises(PlatformError, match=f"available: linux/{OTHER_ARCH}"):
        copy(f"oci:{tmp_path}/src", f"oci:{tmp_path}/dst:s390x", platform=parse_platform("linux/s390x"))


def test_docker_archive_round_trip_with_skopeo_and_podman(tmp_path: Path) -> None:
    image = make_image(HOST_ARCH)
    image_layout(tmp_path / "src", image)
    archive = tmp_path / "img.tar"
    copy(f"oci:{tmp_path}/src", f"docker-archive:{archive}:localhost/app:v1")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest[0]["RepoTags"] == ["localhost/app:v1"]
    assert manifest[0]["Layers"] == [d[7:] + ".tar" for d in image.diff_ids]
    assert "repositories" in names
    inspect = json.loads(run("skopeo", "inspect", f"docker-archive:{archive}"))
    assert inspect["Architecture"] == HOST_ARCH
    assert inspect["Layers"] == list(image.diff_ids)
    run("skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{tmp_path}/sk:x")
    sk_config = json.loads(run("skopeo", "inspect", "--config", f"oci:{tmp_path}/sk:x"))
    assert sk_config["rootfs"]["diff_ids"] == list(image.diff_ids)
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="pm") as store:  # podman: runroot < 50 chars
        podman = ("podman", "--root", f"{store}/root", "--runroot", f"{store}/run", "--storage-driver", "vfs")
        assert "localhost/app:v1" in run(*podman, "load", "-i", str(archive))
        listed = json.loads(run(*podman, "images", "--format", "json"))
        assert listed[0]["Id"] == image.config.digest[7:]
    # And we read it back: the layers are the uncompressed tars, diff_ids unchanged.
    resolved = resolve_image(open_source(f"docker-archive:{archive}"))
    assert resolved.config.rootfs.diff_ids == list(image.diff_ids)
    assert [l.digest for l in resolved.manifest.layers] == list(image.diff_ids)
    copy(f"docker-archive:{archive}:localhost/app:v1", f"oci:{tmp_path}/back:v1")
    assert run("umoci", "ls", "--layout", str(tmp_path / "back")).split() == ["v1"]


def test_we_read_an_archive_skopeo_wrote(tmp_path: Path) -> None:
    image = make_image(HOST_ARCH)
    image_layout(tmp_path / "src", image)
    archive = tmp_path / "sk.tar"
    run("skopeo", "copy", "-q", f"oci:{tmp_path}/src:latest", f"docker-archive:{archive}:example.com/x/y:z")
    source = open_source(f"docker-archive:{archive}:example.com/x/y:z")
    resolved = resolve_image(source)
    assert resolved.config.rootfs.diff_ids == list(image.diff_ids)
    copy(f"docker-archive:{archive}:@0", f"oci:{tmp_path}/back:z")
    with pytest.raises(NotFoundError, match="no image example.com/x/y:other"):
        open_source(f"docker-archive:{archive}:example.com/x/y:other")


def test_index_cannot_go_into_an_archive(tmp_path: Path) -> None:
    index_layout(tmp_path / "src", [make_image(HOST_ARCH), make_image(OTHER_ARCH)])
    archive = tmp_path / "multi.tar"
    with pytest.raises(TransportError, match="one image"):
        copy(f"oci:{tmp_path}/src", f"docker-archive:{archive}:a:b", all_platforms=True)
    assert not archive.exists()
    assert not list(tmp_path.glob(".tmp*"))


def test_corrupt_blob_is_refused_and_not_stored(tmp_path: Path) -> None:
    image = make_image(HOST_ARCH, layer_sizes=(50000,))
    image_layout(tmp_path / "src", image)
    layer = tmp_path / "src/blobs/sha256" / image.layers[0].digest[7:]
    data = bytearray(layer.read_bytes())
    data[100] ^= 0xFF
    layer.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError):
        copy(f"oci:{tmp_path}/src", f"oci:{tmp_path}/dst:x")
    assert not (tmp_path / "dst/blobs/sha256" / image.layers[0].digest[7:]).exists()
    assert not list((tmp_path / "dst/blobs/sha256").glob(".tmp*"))
    assert index_json(tmp_path / "dst")["manifests"] == [] if (tmp_path / "dst/index.json").exists() else True
    archive = tmp_path / "bad.tar"
    with pytest.raises(DigestMismatchError):
        copy(f"oci:{tmp_path}/src", f"docker-archive:{archive}:a:b")
    assert not archive.exists()


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("oci:{tmp}/nothing", "not an OCI image layout"),
        ("oci:{tmp}/src:missing", "no image named 'missing'"),
        ("docker-archive:{tmp}/none.tar", "does not exist"),
        ("docker-archive:{tmp}/src/oci-layout", "not a readable docker archive"),
        ("dir:/x", "'dir' is not supported"),
        ("ftp://x/y", "unknown transport"),
        ("oci:", "path is empty"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path: Path, src: str, message: str) -> None:
    image_layout(tmp_path / "src", make_image(HOST_ARCH), "v1")
    with pytest.raises((TransportError, NotFoundError)) as info:
        open_source(src.format(tmp=tmp_path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_destination_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("keep me")
    with pytest.raises(TransportError, match="not an OCI image layout"):
        open_destination(f"oci:{tmp_path}/home:x")
    assert (tmp_path / "home" / "notes.txt").read_text() == "keep me"


def test_skopeo_available() -> None:
    assert shutil.which("skopeo") and shutil.which("umoci") and shutil.which("podman")
