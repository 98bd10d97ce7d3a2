"""The build context as kaniko accepts it: a directory (`PATH`, `dir://PATH`), a tar archive
(`tar://PATH`, `tar://stdin`; plain or gzip) or a git repository (`git://HOST/REPO[#REF]`,
`https://HOST/REPO.git[#REF[:SUBDIR]]`). Archives and repositories are unpacked into a
temporary directory removed at the end of the build."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from builder.errors import UsageError
from builder.fs.unpack import unpack_tar

DEFAULT_DOCKERFILE = "Dockerfile"


def locate_dockerfile(given: str | None, context_dir: Path | None) -> Path:
    """The Dockerfile to build. Not given: CONTEXT/Dockerfile, as docker and buildx do. Given:
    kaniko's rule, the path as given if it exists, else relative to the context."""
    if given is None:
        candidates = [context_dir / DEFAULT_DOCKERFILE] if context_dir else []
    else:
        candidates = [Path(given)] + ([context_dir / given] if context_dir else [])
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = " or ".join(str(c) for c in candidates) or "a directory context"
    raise UsageError(
        f"Dockerfile {given or DEFAULT_DOCKERFILE!r} not found (looked for {where})",
        "pass --dockerfile PATH" if given is None else "check the --dockerfile path",
    )


def context_subdir(context: Path, sub_path: str | None) -> Path:
    """The directory `sub_path` inside the context (kaniko's --context-sub-path), which must
    exist there and stay there (no `..` or link out of it)."""
    if not sub_path:
        return context
    inside = (context / sub_path.lstrip("/")).resolve()
    if not inside.is_relative_to(context.resolve()):
        raise UsageError(f"--context-sub-path {sub_path}: leaves the context")
    if not inside.is_dir():
        raise UsageError(f"--context-sub-path {sub_path}: no such directory in the context")
    return inside


@contextmanager
def prepared_context(spec: str, scratch: Path) -> Iterator[Path]:
    if spec.startswith(("s3://", "gs://")) or ".blob.core.windows.net" in spec:
        raise UsageError(f"--context {spec}: cloud storage contexts are not supported",
                         "download the archive and pass tar://PATH")
    if spec.startswith("tar://"):
        with _temporary(scratch) as target:
            _extract_tar(spec.removeprefix("tar://"), target)
            yield target
        return
    if is_git_url(spec):
        with _temporary(scratch) as target:
            yield _clone(spec, target)
        return
    path = Path(spec.removeprefix("dir://"))
    if not path.is_dir():
        raise UsageError(f"--context {spec}: not a directory", "pass a directory, dir://, tar:// or a git URL")
    yield path


def is_git_url(spec: str) -> bool:
    return spec.startswith("git://") or spec.startswith("git@") or (
        spec.startswith(("http://", "https://")) and ".git" in spec
    )


@contextmanager
def _temporary(scratch: Path) -> Iterator[Path]:
    scratch.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="context-", dir=scratch))
    try:
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _extract_tar(where: str, target: Path) -> None:
    if where == "stdin":
        raw = sys.stdin.buffer
    else:
        try:
            raw = open(where, "rb")  # noqa: SIM115 (closed below)
        except OSError as err:
            raise UsageError(f"--context tar://{where}: {err.strerror}") from None
    try:
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        stream = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
        unpack_tar(stream, target)
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _clone(spec: str, target: Path) -> Path:
    url, _, fragment = spec.partition("#")
    ref, _, subdir = fragment.partition(":")
    command = ["git", "clone", "--quiet", "--depth", "1", "--recurse-submodules"]
    if ref and not ref.startswith("refs/"):
        command += ["--branch", ref]
    done = subprocess.run([*command, url, str(target / "repo")], capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"--context {spec}: git clone failed: {done.stderr.strip().splitlines()[-1:]}")
    repo = target / "repo"
    if ref.startswith("refs/"):
        fetched = subprocess.run(["git", "-C", str(repo), "fetch", "--depth", "1", "origin", ref],
                                 capture_output=True, text=True)
        if fetched.returncode != 0:
            raise UsageError(f"--context {spec}: cannot fetch {ref}")
        subprocess.run(["git", "-C", str(repo), "checkout", "--quiet", "FETCH_HEAD"], check=True)
    context = repo / subdir if subdir else repo
    if not context.is_dir():
        raise UsageError(f"--context {spec}: no directory {subdir!r} in the repository")
    return context
