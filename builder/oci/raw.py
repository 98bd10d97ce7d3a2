"""A manifest or index as bytes: what registries and layouts store and what digests name.

We never re-serialise a manifest we did not create: the bytes are pushed and hashed
exactly as received, and parsed into models only to read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from builder.errors import DigestMismatchError, MultiarchError
from builder.oci import mediatypes as mt
from builder.oci.digest import sha256_digest
from builder.oci.models import Descriptor, ImageIndex, ImageManifest, Platform


class ManifestFormatError(MultiarchError):
    """Bytes that are not a manifest or index we understand."""


@dataclass(frozen=True)
class RawManifest:
    data: bytes
    media_type: str
    digest: str

    @classmethod
    def from_bytes(
        cls, data: bytes, media_type: str | None = None, expected_digest: str | None = None
    ) -> "RawManifest":
        """Wrap fetched bytes; verify them against `expected_digest` when one is known."""
        digest = sha256_digest(data)
        if expected_digest is not None and digest != expected_digest:
            raise DigestMismatchError(
                f"manifest content has digest {digest}, expected {expected_digest}"
            )
        return cls(data=data, media_type=sniff_media_type(data, media_type), digest=digest)

    @classmethod
    def of(cls, model: ImageManifest | ImageIndex) -> "RawManifest":
        data = model.to_json()
        return cls(data=data, media_type=model.media_type or mt.OCI_MANIFEST, digest=sha256_digest(data))

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    def parse(self) -> ImageManifest | ImageIndex:
        model: type[ImageIndex] | type[ImageManifest] = ImageIndex if self.is_index else ImageManifest
        try:
            return model.model_validate_json(self.data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise ManifestFormatError(
                f"malformed {self.media_type} {self.digest[:19]}: {where}: {first['msg']}"
            ) from None

    def manifest(self) -> ImageManifest:
        parsed = self.parse()
        if not isinstance(parsed, ImageManifest):
            raise ManifestFormatError(f"{self.digest} is an index, expected an image manifest")
        return parsed

    def index(self) -> ImageIndex:
        parsed = self.parse()
        if not isinstance(parsed, ImageIndex):
            raise ManifestFormatError(f"{self.digest} is an image manifest, expected an index")
        return parsed

    def descriptor(self, platform: Platform | None = None, **extra: object) -> Descriptor:
        fields = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}
        return Descriptor.model_validate(fields | {"platform": platform} | extra)


def sniff_media_type(data: bytes, declared: str | None) -> str:
    """The media type of manifest bytes: the declared one if it is a known type, else the
    body's own `mediaType`, else inferred from its shape (OCI allows omitting it)."""
    try:
        body = json.loads(data)
    except ValueError as err:
        raise ManifestFormatError(f"manifest is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ManifestFormatError("manifest is not a JSON object")
    own = body.get("mediaType")
    if declared in mt.ALL_MANIFEST_TYPES:
        if own and own != declared:
            raise ManifestFormatError(
                f"manifest declares mediaType {own} but was served as {declared}"
            )
        return declared
    if own in mt.ALL_MANIFEST_TYPES:
        return str(own)
    if body.get("schemaVersion") == 1:
        raise ManifestFormatError(
            "Docker schema1 manifests are not supported", hint="re-push the image with a current client"
        )
    if "manifests" in body:
        return mt.OCI_INDEX
    if "config" in body and "layers" in body:
        return mt.OCI_MANIFEST
    raise ManifestFormatError(f"unknown manifest media type {declared or own!r}")
