"""`docker://REF`: an image in a registry, through builder.registry.RegistryClient."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from builder.errors import DigestMismatchError
from builder.oci.models import Descriptor
from builder.oci.raw import RawManifest
from builder.reference import DEFAULT_TAG, Reference
from builder.transports.base import BlobOpener, ImageSource

if TYPE_CHECKING:
    from builder.registry.client import RegistryClient


class RegistrySource:
    def __init__(self, ref: Reference, client: "RegistryClient") -> None:
        self.ref = ref
        self.client = client
        self.description = f"docker://{ref}"

    def get_manifest(self, digest: str | None = None) -> RawManifest:
        ref = self.ref if digest is None else self.ref.repository_ref().with_digest(digest)
        return self.client.get_manifest(ref)

    def open_blob(self, desc: Descriptor) -> AbstractContextManager[Iterator[bytes]]:
        return self.client.open_blob(self.ref.repository_ref(), desc)

    def close(self) -> None:
        pass


class RegistryDestination:
    supports_index = True
    parallel_blobs = 4

    def __init__(self, ref: Reference, client: "RegistryClient") -> None:
        self.ref = ref
        self.repo = ref.repository_ref()
        self.client = client
        self.tag = ref.tag or (None if ref.digest else DEFAULT_TAG)
        self.description = f"docker://{ref}"

    def has_blob(self, desc: Descriptor) -> bool:
        return self.client.has_blob(self.repo, desc.digest)

    def put_blob(self, desc: Descriptor, open_content: BlobOpener) -> None:
        self.client.upload_blob(self.repo, desc, open_content, known_missing=True)

    def try_mount(self, desc: Descriptor, source: ImageSource) -> bool:
        if not isinstance(source, RegistrySource) or source.client is not self.client:
            return False
        if source.ref.registry != self.ref.registry or source.ref.repository == self.ref.repository:
            return False
        return self.client.mount_blob(self.repo, desc, source.ref.repository_ref())

    def put_manifest(self, raw: RawManifest, tag: str | None, *, root: bool = True) -> None:
        if root and self.ref.digest and raw.digest != self.ref.digest:
            raise DigestMismatchError(
                f"the image to push has digest {raw.digest}, but the destination names {self.ref.digest}"
            )
        target = self.repo.with_tag(tag) if tag else self.repo.with_digest(raw.digest)
        self.client.put_manifest(target, raw)

    def close(self) -> None:
        pass
