"""Base images built from Debian packages, cached on tmpfs, pushed to the bench registry.

- busybox: busybox-static's binary plus a symlink per applet, for linux/amd64 and linux/arm64,
  pushed as one OCI index;
- debian: a debootstrap --variant=minbase bookworm rootfs for linux/amd64.

Each becomes an OCI layout (one deterministic gzip layer per platform) and skopeo copies it
into the registry, so the base digests are the same on every run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.host import remove_tree

BUSYBOX_REF = "base/busybox:latest"
DEBIAN_REF = "base/debian:bookworm"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Blob:
    media_type: str
    digest: str
    size: int

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class OciLayout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def add_bytes(self, data: bytes, media_type: str) -> Blob:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (self.blobs / digest.removeprefix("sha256:")).write_bytes(data)
        return Blob(media_type, digest, len(data))

    def add_json(self, value: object, media_type: str) -> Blob:
        return self.add_bytes(json.dumps(value, separators=(",", ":")).encode(), media_type)

    def add_layer(self, rootfs: Path) -> tuple[Blob, str]:
        """gzip layer of rootfs, deterministic; returns (blob, diff_id)."""
        tar_path = self.root / "layer.tar"
        subprocess.run(
            ["tar", "--sort=name", "--numeric-owner", "--format=pax",
             "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
             "--mtime=@0", "--clamp-mtime", "-C", str(rootfs), "-cf", str(tar_path), "."],
            check=True,
        )
        diff_id = _sha256_file(tar_path)
        subprocess.run(["pigz", "-n", "-6", str(tar_path)], check=True)
        gz_path = tar_path.with_suffix(".tar.gz")
        digest = _sha256_file(gz_path)
        size = gz_path.stat().st_size
        gz_path.rename(self.blobs / digest.removeprefix("sha256:"))
        return Blob(OCI_LAYER_GZIP, digest, size), diff_id

    def add_image(self, rootfs: Path, arch: str, cmd: list[str]) -> Blob:
        layer, diff_id = self.add_layer(rootfs)
        config = self.add_json(
            {
                "created": "1970-01-01T00:00:00Z",
                "architecture": arch,
                "os": "linux",
                **({"variant": "v8"} if arch == "arm64" else {}),
                "config": {"Env": [PATH_ENV], "Cmd": cmd},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "bench base image"}],
            },
            OCI_CONFIG,
        )
        return self.add_json(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
             "layers": [layer.descriptor()]},
            OCI_MANIFEST,
        )

    def tag(self, top: Blob, name: str, platform: dict[str, str] | None = None) -> None:
        extra: dict[str, object] = {"annotations": {"org.opencontainers.image.ref.name": name}}
        if platform:
            extra["platform"] = platform
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top.descriptor(**extra)]}
        (self.root / "index.json").write_text(json.dumps(index))


class BaseImages:
    """Builds (once, cached under `cache`) and pushes the base images."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.debs = cache / "debs"
        self.rootfs = cache / "rootfs"
        self.layouts = cache / "oci"

    def ensure_built(self) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        with open(self.cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another suite may be building them right now
            self._layout("busybox", self._build_busybox_layout)
            self._layout("debian", self._build_debian_layout)

    def push(self, registry_host: str) -> None:
        for name, ref, tag in (("busybox", BUSYBOX_REF, "latest"), ("debian", DEBIAN_REF, "bookworm")):
            subprocess.run(
                ["skopeo", "copy", "--quiet", "--all", "--dest-tls-verify=false",
                 f"oci:{self.layouts / name}:{tag}", f"docker://{registry_host}/{ref}"],
                check=True,
            )

    def _layout(self, name: str, build: Callable[[OciLayout], None]) -> Path:
        path = self.layouts / name
        if (path / ".done").exists():
            return path
        remove_tree(path)
        print(f"bench: building base image {name} (cached in {path})", flush=True)
        build(OciLayout(path))
        (path / ".done").touch()
        return path

    # busybox -----------------------------------------------------------------

    def _build_busybox_layout(self, layout: OciLayout) -> None:
        entries = []
        for arch in ("amd64", "arm64"):
            top = layout.add_image(self._busybox_rootfs(arch), arch, ["sh"])
            platform = {"architecture": arch, "os": "linux", **({"variant": "v8"} if arch == "arm64" else {})}
            entries.append(top.descriptor(platform=platform))
        index = layout.add_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, OCI_INDEX)
        layout.tag(index, "latest")

    def _busybox_deb(self, arch: str) -> Path:
        self.debs.mkdir(parents=True, exist_ok=True)
        found = sorted(self.debs.glob(f"busybox-static_*_{arch}.deb"))
        if found:
            return found[-1]
        if arch not in _dpkg_architectures():
            subprocess.run(["dpkg", "--add-architecture", arch], check=True)
            subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root", f"busybox-static:{arch}"], cwd=self.debs, check=True)
        return sorted(self.debs.glob(f"busybox-static_*_{arch}.deb"))[-1]

    def _busybox_rootfs(self, arch: str) -> Path:
        root = self.rootfs / f"busybox-{arch}"
        remove_tree(root)
        root.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(self._busybox_deb(arch)), str(root)], check=True)
        remove_tree(root / "usr" / "share")
        # The applet list is the same for both architectures; ask the one we can run.
        applets = subprocess.run(
            [str(self._native_busybox()), "--list-full"], check=True, capture_output=True, text=True
        ).stdout.split()
        for rel in applets:
            link = root / rel
            if link.exists() or link.is_symlink():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")
        for rel, mode in (("tmp", 0o1777), ("root", 0o700), ("etc", 0o755), ("proc", 0o555),
                          ("sys", 0o555), ("dev", 0o755), ("var", 0o755), ("home", 0o755)):
            (root / rel).mkdir(exist_ok=True)
            os.chmod(root / rel, mode)
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nbench:x:1000:1000:bench:/home/bench:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\nbench:x:1000:\nnogroup:x:65534:\n")
        return root

    def _native_busybox(self) -> Path:
        native = self.rootfs / "busybox-amd64" / "bin" / "busybox"
        if not native.exists():
            raise RuntimeError("amd64 busybox rootfs must be unpacked first")
        return native

    # debian ------------------------------------------------------------------

    def _build_debian_layout(self, layout: OciLayout) -> None:
        root = self.rootfs / "debian-amd64"
        if not (root / ".debootstrap-done").exists():
            remove_tree(root)
            root.mkdir(parents=True)
            subprocess.run(
                ["debootstrap", "--variant=minbase", "--arch=amd64", "bookworm", str(root),
                 debian_mirror()],
                check=True, stdout=subprocess.DEVNULL,
            )
            (root / ".debootstrap-done").touch()
        staged = self.rootfs / "debian-amd64-image"
        remove_tree(staged)
        subprocess.run(["cp", "-a", str(root), str(staged)], check=True)
        for rel in ("dev", "proc", "sys", "run", "tmp", "var/cache/apt/archives", "var/lib/apt/lists"):
            _empty_dir(staged / rel)
        (staged / ".debootstrap-done").unlink()
        top = layout.add_image(staged, "amd64", ["bash"])
        layout.tag(top, "bookworm", {"architecture": "amd64", "os": "linux"})
        remove_tree(staged)


def _empty_dir(path: Path) -> None:
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            remove_tree(child)
        else:
            child.unlink()


def _dpkg_architectures() -> set[str]:
    native = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout
    foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout
    return set((native + foreign).split())


def debian_mirror() -> str:
    """The first Debian URI apt is configured with (deb822 or one-line format)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"]:
                uri = next((w for w in words[1:] if "://" in w), "")
                if uri and "security" not in uri:
                    return uri
    return "http://deb.debian.org/debian"
