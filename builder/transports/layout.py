"""`oci:DIR[:TAG]`: an OCI image layout directory (oci-layout, index.json, blobs/sha256/).

Several images live in one layout, each named by an `org.opencontainers.image.ref.name`
annotation on its index.json entry. Blobs are written to a temp file and renamed into
place once verified; index.json is rewritten atomically under a lock, so adding an image
never loses the entries already there.

A writer holds a shared flock on blobs/sha256 while it is open. Opening a layout for
writing first tries that lock exclusively: when no other writer is alive, the temp files
`write_atomically` left behind (a writer killed mid-write) are removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from builder.errors import NotFoundError, TransportError
from builder.oci import mediatypes as mt
from builder.oci.digest import CHUNK, VerifyingReader, hex_of
from builder.oci.models import Descriptor, ImageIndex
from builder.oci.raw import ManifestFormatError, RawManifest
from builder.transports.base import (
    BlobOpener,
    ImageSource,
    verified_file_chunks,
    write_atomically,
)

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_VERSION = "1.0.0"
MANIFEST_LIMIT = 8 << 20
# write_atomically's temp names: ".tmp-" + the target's first 16 characters + mkstemp's 8.
_STALE_BLOB_TEMP = re.compile(r"\.tmp-[0-9a-f]{16}[a-z0-9_]{8}")
_STALE_ROOT_TEMP = re.compile(r"\.tmp-(index\.json|oci-layout)[a-z0-9_]{8}")


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / hex_of(digest)

    def check(self) -> None:
        marker = self.root / "oci-layout"
        try:
            version = json.loads(marker.read_text()).get("imageLayoutVersion")
        except FileNotFoundError:
            raise TransportError(
                f"{self.root} is not an OCI image layout (no oci-layout file)"
            ) from None
        except (ValueError, AttributeError):
            raise TransportError(f"{marker} is not valid JSON") from None
        if version != LAYOUT_VERSION:
            raise TransportError(f"{marker}: unsupported imageLayoutVersion {version!r}")

    def read_index(self) -> ImageIndex:
        path = self.root / "index.json"
        try:
            return RawManifest.from_bytes(path.read_bytes(), mt.OCI_INDEX).index()
        except FileNotFoundError:
            return ImageIndex(manifests=[])
        except ManifestFormatError as err:
            raise TransportError(f"{path}: {err.message}") from None

    def read_manifest(self, desc_digest: str, media_type: str | None) -> RawManifest:
        path = self.blob_path(desc_digest)
        try:
            with open(path, "rb") as f:
                data = f.read(MANIFEST_LIMIT + 1)
        except FileNotFoundError:
            raise NotFoundError(f"manifest {desc_digest} is missing from {self.root}") from None
        if len(data) > MANIFEST_LIMIT:
            raise TransportError(f"manifest {desc_digest} in {self.root} is larger than 8 MiB")
        return RawManifest.from_bytes(data, media_type, expected_digest=desc_digest)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.root / "oci-layout", "rb") as marker:
            fcntl.flock(marker, fcntl.LOCK_EX)
            yield


def ref_names(index: ImageIndex) -> list[str]:
    return [e.annotations[REF_NAME] for e in index.manifests
            if e.annotations and REF_NAME in e.annotations]


class LayoutSource:
    def __init__(self, root: Path, name: str | None) -> None:
        self.layout = Layout(root)
        self.layout.check()
        self.description = f"oci:{root}" + (f":{name}" if name else "")
        self._top = self._pick(self.layout.read_index(), name)

    def _pick(self, index: ImageIndex, name: str | None) -> Descriptor:
        if name is None:
            # An entry with an artifactType is an artifact about an image (an attestation
            # that refers to it), not an image to pick.
            images = [e for e in index.manifests if e.artifact_type is None]
            if len(images) == 1:
                return images[0]
            names = ref_names(index)
            raise TransportError(
                f"{self.description} holds {len(images)} images; name one with "
                f"oci:{self.layout.root}:NAME" + (f" (names: {', '.join(names)})" if names else "")
            )
        for entry in index.manifests:
            if entry.annotations and entry.annotations.get(REF_NAME) == name:
                return entry
        names = ref_names(index)
        raise NotFoundError(
            f"no image named {name!r} in {self.layout.root}; "
            + (f"names: {', '.join(names)}" if names else "the layout has no named images")
        )

    def get_manifest(self, digest: str | None = None) -> RawManifest:
        if digest is None or digest == self._top.digest:
            return self.layout.read_manifest(self._top.digest, self._top.media_type)
        return self.layout.read_manifest(digest, None)

    def open_blob(self, desc: Descriptor) -> AbstractContextManager[Iterator[bytes]]:
        path = self.layout.blob_path(desc.digest)
        if not path.is_file():
            raise NotFoundError(f"blob {desc.digest} is missing from {self.layout.root}")
        return verified_file_chunks(path, desc, f"blob {desc.digest[:19]} in {self.layout.root}")

    def close(self) -> None:
        pass


class LayoutDestination:
    supports_index = True
    parallel_blobs = 4

    def __init__(self, root: Path, name: str | None) -> None:
        self.layout = Layout(root)
        self.tag = name
        self.description = f"oci:{root}" + (f":{name}" if name else "")
        self._init_layout(root)
        self._writer_lock = self._lock_as_writer()

    def _lock_as_writer(self) -> int:
        """Take the writers' shared lock, removing dead writers' temp files first if no
        other writer holds it (only then can no temp file be in use)."""
        blobs = self.layout.root / "blobs" / "sha256"
        fd = os.open(blobs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                _remove_temps(blobs, _STALE_BLOB_TEMP)
                _remove_temps(self.layout.root, _STALE_ROOT_TEMP)
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _init_layout(self, root: Path) -> None:
        if (root / "oci-layout").exists():
            self.layout.check()
        elif root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise TransportError(
                f"{root} exists and is not an OCI image layout; refusing to write into it"
            )
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (root / "oci-layout").exists():
            layout_json = json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode()
            write_atomically(root / "oci-layout", [layout_json])

    def has_blob(self, desc: Descriptor) -> bool:
        path = self.layout.blob_path(desc.digest)
        return path.is_file() and path.stat().st_size == desc.size

    def put_blob(self, desc: Descriptor, open_content: BlobOpener) -> None:
        with open_content() as f:
            chunks = VerifyingReader(
                iter(lambda: f.read(CHUNK), b""), desc.digest, desc.size, f"blob {desc.digest[:19]}"
            )
            write_atomically(self.layout.blob_path(desc.digest), chunks)

    def try_mount(self, desc: Descriptor, source: ImageSource) -> bool:
        return False

    def put_manifest(self, raw: RawManifest, tag: str | None, *, root: bool = True) -> None:
        path = self.layout.blob_path(raw.digest)
        if not path.is_file():
            write_atomically(path, [raw.data])
        if not root:
            return
        entry = raw.descriptor(annotations={REF_NAME: tag} if tag else None)
        with self.layout.locked():
            index = self.layout.read_index()
            kept = [e for e in index.manifests if not _replaced_by(e, entry, tag)]
            index = index.model_copy(update={"manifests": [*kept, entry]})
            write_atomically(self.layout.root / "index.json", [index.to_json()])

    def close(self) -> None:
        if self._writer_lock >= 0:
            os.close(self._writer_lock)
            self._writer_lock = -1


def _remove_temps(directory: Path, pattern: re.Pattern[str]) -> None:
    for entry in os.scandir(directory):
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass


def _replaced_by(old: Descriptor, new: Descriptor, tag: str | None) -> bool:
    old_name = (old.annotations or {}).get(REF_NAME)
    if tag is not None:
        return old_name == tag
    return old_name is None and old.digest == new.digest
