"""ADD's extras over COPY: local tar archives are extracted (plain, gzip, bzip2, xz, zstd —
recognised by content, as Docker does, not by name); URLs are downloaded (proxies from the
build args or the environment), checked against --checksum, never extracted, mode 0600."""

from __future__ import annotations

import bz2
import email.utils
import gzip
import hashlib
import lzma
import os
import posixpath
import tarfile
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import httpx

from builder.errors import BuildError
from builder.fs.unpack import unpack_tar
from builder.log import redact

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def archive_kind(path: Path) -> str | None:
    """'tar', 'gzip', 'bzip2', 'xz', 'zstd' when `path` is a (compressed) tar archive."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            compression = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
            f.seek(0)
            stream = _decompressed(f, compression)
            block = stream.read(512)
    except (OSError, EOFError, lzma.LZMAError, ValueError):
        return None
    if len(block) < 512 or not _is_tar_header(block):
        return None
    return compression or "tar"


def _is_tar_header(block: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _decompressed(f: BinaryIO, compression: str | None) -> BinaryIO:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]  # a binary file, not typeshed's BinaryIO
    if compression == "bzip2":
        return bz2.BZ2File(f)  # type: ignore[return-value]  # a binary file, not typeshed's BinaryIO
    if compression == "xz":
        return lzma.LZMAFile(f)  # type: ignore[return-value]  # a binary file, not typeshed's BinaryIO
    if compression == "zstd":
        # Lazy: a codec library is loaded by the layers that use it (isal ~17 ms, zstd ~6 ms).
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(f)
    return f


def extract_archive(path: Path, kind: str, dest_root: Path,
                    owner: tuple[int, int] | None = None, keep: tuple[str, ...] = ()) -> None:
    """Unpack into `dest_root` (a real directory inside the step's root) with the safe
    unpacker: no entry can land outside it. `owner` (ADD --chown) owns every entry, as in
    BuildKit since dockerfile 1.17 (solver/llbsolver/file/unpack.go ChownOpts). `keep`:
    paths below `dest_root` the archive's entries leave alone (unpack_tar's)."""
    with open(path, "rb") as f:
        stream = _decompressed(f, None if kind == "tar" else kind)
        unpack_tar(stream, dest_root, owner=owner, keep=keep)


def url_filename(url: str) -> str:
    base = posixpath.basename(urlparse(url).path)
    return base if base not in ("", ".", "/") else "__unnamed__"


def download(url: str, dest_dir: Path, checksum: str | None, proxies: dict[str, str]) -> Path:
    """Fetch `url` into `dest_dir` (streamed, hashed); mtime from Last-Modified."""
    target = dest_dir / url_filename(url)
    digest = hashlib.sha256()
    proxy = proxies.get("https" if url.startswith("https") else "http")
    try:
        with httpx.Client(proxy=proxy, follow_redirects=True, timeout=60.0, trust_env=proxy is None) as client:
            with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise BuildError(f"ADD {redact(url)}: HTTP {response.status_code}")
                with open(target, "wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                modified = response.headers.get("last-modified")
    except httpx.HTTPError as err:
        raise BuildError(f"ADD {redact(url)}: {err}") from None
    if checksum is not None:
        algo, _, want = checksum.partition(":")
        if algo != "sha256" or not want:
            raise BuildError(f"ADD --checksum={checksum}: only sha256:HEX is supported")
        got = digest.hexdigest()
        if got != want:
            raise BuildError(
                f"ADD {redact(url)}: digest mismatch sha256:{got}: expected sha256:{want}"
            )
    os.chmod(target, 0o600)
    if modified:
        try:
            when = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(target, (when, when))
        except (TypeError, ValueError):
            pass
    return target


def proxies_from(build_args: dict[str, str]) -> dict[str, str]:
    out = {}
    for scheme in ("http", "https"):
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            if build_args.get(name):
                out[scheme] = build_args[name]
                break
    return out
