"""RegistryClient: manifests, blobs and tags over the distribution API.

One HostConnection (httpx client, auth, scheme) per registry host, created on first use and
shared by all threads — and, inside `builder.pool.shared_connections()` (every CLI command),
by every client of the command that uses the same settings for that host. Everything
fetched is verified against its digest. Blobs seen in a repository (HEAD, mount, upload)
are remembered, so later checks of them cost no request.
Uploads of one blob to one repository take turns across the process (builder/registry/
blobturns.py says why).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO, TypeVar

import httpx

from builder.errors import DigestMismatchError, NotFoundError, RegistryError
from builder.oci import mediatypes as mt
from builder.oci.digest import VerifyingReader, check_digest
from builder.oci.models import Descriptor, ImageIndex
from builder.oci.raw import RawManifest
from builder.pool import pooled
from builder.reference import Reference
from builder.registry.blobturns import BLOB_TURNS
from builder.registry.connection import HostConnection, transport_error
from builder.registry.credentials import canonical_host, find_credential
from builder.registry.options import RegistryOptions
from builder.registry.uploads import BlobUpload

MANIFEST_ACCEPT = ", ".join(mt.ALL_MANIFEST_TYPES)
# distribution refuses manifests above 4 MiB; more than that from a server is a fault.
MAX_MANIFEST_BYTES = 4 << 20
TAGS_PAGE = 1000
_LINK_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
T = TypeVar("T")


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("Content-Type")
    return value.split(";", 1)[0].strip() if value else None


class RegistryClient:
    """Thread-safe distribution-spec client. Use as a context manager or call close()."""

    def __init__(self, options: RegistryOptions | None = None, env: Mapping[str, str] | None = None) -> None:
        self.options = options or RegistryOptions()
        self._env = env
        self._connections: dict[str, HostConnection] = {}
        self._owned: list[HostConnection] = []
        self._lock = threading.Lock()
        self._present: set[tuple[str, str, str]] = set()  # (host, repository, digest)

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            owned, self._owned, self._connections = self._owned, [], {}
        for conn in owned:
            conn.close()

    def connection(self, registry: str) -> HostConnection:
        host = canonical_host(registry)
        with self._lock:
            conn = self._connections.get(host)
            if conn is None:
                conn, owned = self._open(host)
                self._connections[host] = conn
                if owned:
                    self._owned.append(conn)
            return conn

    def _open(self, host: str) -> tuple[HostConnection, bool]:
        """A connection and whether this client owns it: one shared by every client of the
        command (builder.pool) that uses the same settings for this host — TLS, plain HTTP,
        credential, timeout, retries, uploads."""
        options = self.options
        credential = find_credential(host, options, self._env)
        key = ("registry", host, credential, host in options.insecure, host in options.skip_verify,
               options.ca_files.get(host, ()), options.client_certs.get(host), options.timeout,
               options.retry, options.chunked_threshold, options.chunk_size)  # fmt: skip
        return pooled(key, lambda: HostConnection(host, options, credential))

    def _reading(self, ref: Reference, read: Callable[[HostConnection], T]) -> T:
        """Run `read` against the registry's mirrors first (if any), then the registry."""
        mirrors = self.options.mirrors.get(canonical_host(ref.registry), ())
        failures = []
        for mirror in mirrors:
            try:
                return read(self.connection(mirror))
            except RegistryError as err:
                failures.append(f"{mirror}: {err.message}")
        if mirrors and not self.options.mirror_fallback:
            raise RegistryError(
                f"{ref}: no mirror has it ({'; '.join(failures)}), and "
                "--skip-default-registry-fallback forbids asking the registry itself",
            )
        return read(self.connection(ref.registry))

    # manifests

    def get_manifest(self, ref: Reference, accept: str = MANIFEST_ACCEPT) -> RawManifest:
        what = f"manifest {ref}"
        scopes = (pull_scope(ref.repository),)

        def read(conn: HostConnection) -> RawManifest:
            return conn.read(what, lambda: read_once(conn))

        def read_once(conn: HostConnection) -> RawManifest:
            response = conn.send(
                "GET",
                f"/v2/{ref.repository}/manifests/{ref.identifier}",
                scopes=scopes,
                what=what,
                headers={"Accept": accept},
                stream=True,
            )
            try:
                conn.check(response, (200,), what, scopes)
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_MANIFEST_BYTES:
                        raise RegistryError(f"{what}: larger than {MAX_MANIFEST_BYTES} bytes")
            finally:
                response.close()
            expected = ref.digest or response.headers.get("Docker-Content-Digest")
            return RawManifest.from_bytes(bytes(data), _media_type(response), expected)

        return self._reading(ref, read)

    def head_manifest(self, ref: Reference, *, mirrors: bool = True) -> Descriptor | None:
        """The manifest's descriptor, None when absent. `mirrors=False` asks the registry
        itself (a push target), never a mirror of it."""
        what = f"manifest {ref}"
        scopes = (pull_scope(ref.repository),)

        def read(conn: HostConnection) -> Descriptor | None:
            response = conn.send(
                "HEAD",
                f"/v2/{ref.repository}/manifests/{ref.identifier}",
                scopes=scopes,
                what=what,
                headers={"Accept": MANIFEST_ACCEPT},
            )
            if response.status_code == 404:
                return None
            conn.check(response, (200,), what, scopes)
            digest = response.headers.get("Docker-Content-Digest")
            media_type = _media_type(response)
            if not digest or media_type not in mt.ALL_MANIFEST_TYPES:
                return self.get_manifest(ref).descriptor()
            if ref.digest and digest != ref.digest:
                raise DigestMismatchError(f"{what}: the registry answered for {digest}")
            return Descriptor(
                mediaType=media_type, digest=check_digest(digest), size=int(response.headers.get("Content-Length", 0))
            )

        return self._reading(ref, read) if mirrors else read(self.connection(ref.registry))

    def put_manifest(self, ref: Reference, raw: RawManifest) -> str:
        """Push `raw` under the ref's tag (or its digest, which must be raw's); return the digest."""
        self._put_manifest(ref, raw)
        return raw.digest

    def put_referrer(self, repo_ref: Reference, raw: RawManifest, subject: str) -> bool:
        """Push a manifest whose `subject` is `subject` by digest; True when the registry
        answered `OCI-Subject: subject` (it indexes referrers itself, OCI 1.1), False when
        the client must keep the referrers tag schema up to date."""
        response = self._put_manifest(repo_ref.with_digest(raw.digest), raw)
        answered: str | None = response.headers.get("OCI-Subject")
        return answered == subject

    def get_referrers(
        self, repo_ref: Reference, digest: str, artifact_type: str | None = None
    ) -> ImageIndex | None:
        """The referrers API's index of what refers to `digest` (filtered by artifact type
        when the registry applies the filter; the caller filters again). None when the
        registry has no referrers API (404): read the tag schema then."""
        conn = self.connection(repo_ref.registry)
        what = f"referrers of {repo_ref.name}@{digest[:19]}"
        scopes = (pull_scope(repo_ref.repository),)
        url = httpx.URL(f"{conn.base_url}/v2/{repo_ref.repository}/referrers/{check_digest(digest)}")
        if artifact_type:
            url = url.copy_merge_params({"artifactType": artifact_type})
        response = conn.send("GET", str(url), scopes=scopes, what=what, headers={"Accept": mt.OCI_INDEX})
        if response.status_code == 404:
            return None
        conn.check(response, (200,), what, scopes)
        return RawManifest.from_bytes(response.content, mt.OCI_INDEX).index()

    def _put_manifest(self, ref: Reference, raw: RawManifest) -> httpx.Response:
        if ref.digest and ref.digest != raw.digest:
            raise DigestMismatchError(f"cannot push manifest {raw.digest} under digest {ref.digest}")
        conn = self.connection(ref.registry)
        what = f"push of manifest {raw.digest[:19]} to {ref}"
        scopes = (push_scope(ref.repository),)
        response = conn.send(
            "PUT",
            f"/v2/{ref.repository}/manifests/{ref.digest or ref.tag or raw.digest}",
            scopes=scopes,
            what=what,
            headers={"Content-Type": raw.media_type},
            content=lambda: raw.data,
        )
        conn.check(response, (201, 200, 202), what, scopes)
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != raw.digest:
            raise DigestMismatchError(f"{what}: the registry stored it as {stored}")
        return response

    # blobs

    def _seen(self, repo_ref: Reference, digest: str) -> tuple[str, str, str]:
        return canonical_host(repo_ref.registry), repo_ref.repository, digest

    def _saw(self, repo_ref: Reference, digest: str) -> None:
        with self._lock:
            self._present.add(self._seen(repo_ref, digest))

    def has_blob(self, repo_ref: Reference, digest: str) -> bool:
        with self._lock:
            if self._seen(repo_ref, digest) in self._present:
                return True
        conn = self.connection(repo_ref.registry)
        what = f"blob {digest[:19]} in {repo_ref.name}"
        scopes = (pull_scope(repo_ref.repository),)
        response = conn.send("HEAD", f"/v2/{repo_ref.repository}/blobs/{digest}", scopes=scopes, what=what)
        if response.status_code == 404:
            return False
        conn.check(response, (200,), what, scopes)
        self._saw(repo_ref, digest)
        return True

    @contextmanager
    def open_blob(self, repo_ref: Reference, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        """Yield the blob as verified chunks; a broken download resumes with a Range GET.
        The digest and size are checked when the last chunk has been read."""
        what = f"blob {desc.digest[:19]} from {repo_ref.name}"
        scopes = (pull_scope(repo_ref.repository),)
        path = f"/v2/{repo_ref.repository}/blobs/{desc.digest}"
        opened: list[httpx.Response] = []

        def fetch(conn: HostConnection, offset: int) -> httpx.Response:
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            response = conn.send("GET", path, scopes=scopes, what=what, headers=headers, stream=True)
            opened.append(response)
            conn.check(response, (206,) if offset else (200,), what, scopes)
            return response

        conn, response = self._reading(repo_ref, lambda c: (c, fetch(c, 0)))

        def chunks() -> Iterator[bytes]:
            current, received, breaks = response, 0, 0
            while True:
                try:
                    # No chunk size: re-chunking would copy every byte once more.
                    for chunk in current.iter_bytes():
                        received += len(chunk)
                        yield chunk
                    return
                except httpx.TransportError as err:
                    breaks += 1
                    if breaks >= self.options.retry.attempts:
                        raise transport_error(conn.host, err) from None
                    current.close()
                    current = fetch(conn, received)

        try:
            yield iter(VerifyingReader(chunks(), desc.digest, desc.size, what))
        finally:
            for item in opened:
                item.close()

    def upload_blob(
        self,
        repo_ref: Reference,
        desc: Descriptor,
        open_content: Callable[[], BinaryIO],
        *,
        known_missing: bool = False,
    ) -> None:
        """Upload unless the repository has it already (`known_missing`: the caller has just
        asked, so no second HEAD). `open_content` is called for each attempt and must return
        a fresh binary file object positioned at the start."""
        blob = self._seen(repo_ref, desc.digest)
        with BLOB_TURNS.turn(blob) as uploaded_before:  # another upload of it ends first
            with self._lock:
                if blob in self._present:
                    return
            if (uploaded_before or not known_missing) and self.has_blob(repo_ref, desc.digest):
                return
            conn = self.connection(repo_ref.registry)
            BlobUpload(conn, repo_ref.repository, desc, open_content).run()
            self._saw(repo_ref, desc.digest)
            BLOB_TURNS.uploaded(blob)

    def mount_blob(self, repo_ref: Reference, desc: Descriptor, from_repo: Reference) -> bool:
        """Cross-repository mount; False when the registry would not (upload normally then)."""
        if canonical_host(from_repo.registry) != canonical_host(repo_ref.registry):
            return False
        conn = self.connection(repo_ref.registry)
        what = f"mount of blob {desc.digest[:19]} from {from_repo.name} into {repo_ref.name}"
        scopes = (push_scope(repo_ref.repository), pull_scope(from_repo.repository))
        url = httpx.URL(f"{conn.base_url}/v2/{repo_ref.repository}/blobs/uploads/").copy_merge_params(
            {"mount": desc.digest, "from": from_repo.repository}
        )
        response = conn.send("POST", str(url), scopes=scopes, what=what)
        if response.status_code == 201:
            self._saw(repo_ref, desc.digest)
            return True
        conn.check(response, (202,), what, scopes)
        # The registry opened an ordinary upload instead; drop it, the caller uploads.
        location = response.headers.get("Location")
        if location:
            conn.send("DELETE", str(response.request.url.join(location)), scopes=scopes, what=what)
        return False

    # tags

    def list_tags(self, repo_ref: Reference) -> list[str]:
        """All tags, following `Link: <...>; rel="next"` pages. [] for an unknown repository."""
        conn = self.connection(repo_ref.registry)
        what = f"tag list of {repo_ref.name}"
        scopes = (pull_scope(repo_ref.repository),)
        url: str | None = f"/v2/{repo_ref.repository}/tags/list?n={TAGS_PAGE}"
        tags: list[str] = []
        while url:
            response = conn.send("GET", url, scopes=scopes, what=what)
            if response.status_code == 404:
                try:
                    conn.check(response, (200,), what, scopes)
                except NotFoundError as err:
                    if "NAME_UNKNOWN" in err.codes:
                        return []
                    raise
            conn.check(response, (200,), what, scopes)
            try:
                tags.extend(response.json().get("tags") or [])
            except (ValueError, AttributeError):
                raise RegistryError(f"{what}: the registry answered with malformed JSON") from None
            match = _LINK_NEXT_RE.search(response.headers.get("Link", ""))
            url = str(response.request.url.join(match.group(1))) if match else None
        return tags
