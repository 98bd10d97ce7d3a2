"""RUN --mount under `--isolation container-root`, where nothing can be mounted: each mount's
content is copied to its target for the step and taken away again before the step's snapshot,
so a secret reaches no layer. A writable mount's content after the step goes back to its
source, as a real bind mount would have written it there: a cache mount keeps what the step
added for the next step and build (a writable bind mount's source is a throwaway copy, so its
writes are dropped, as BuildKit drops them). What the image had at a target is renamed aside
meanwhile (same directory: one filesystem) and renamed back; directories the builder made for
a target are removed; the parents' mtimes are put back unless the step itself changed them.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from builder.errors import BuildError
from builder.fs.changes import is_ignored
from builder.sandbox import BindMount, TmpfsMount

ASIDE_PREFIX = ".multiarch-aside-"


@contextmanager
def placed_mounts(mounts: Sequence[BindMount | TmpfsMount], keep: tuple[str, ...]
                  ) -> Iterator[None]:  # fmt: skip
    """Every mount's content at its target while the block runs; nested targets in order."""
    with ExitStack() as stack:
        for mount in mounts:
            stack.enter_context(_placed(mount, keep))
        yield


@contextmanager
def _placed(mount: BindMount | TmpfsMount, keep: tuple[str, ...]) -> Iterator[None]:
    target = Path(os.path.normpath(mount.target))
    real = Path(os.path.realpath(target.parent)) / target.name
    if is_ignored(str(real).lstrip("/"), keep):
        raise BuildError(
            f"RUN --mount target {mount.target} is inside the container's own mounts or the "
            "builder's files, which --isolation container-root leaves alone",
            "choose a target elsewhere in the image",
        )
    missing = _missing_parents(real.parent)
    touched = missing[0].parent if missing else real.parent
    before = os.stat(touched)
    made = []
    for directory in missing:
        directory.mkdir(mode=0o755)
        made.append(directory)
    aside = _set_aside(real)
    placed = None
    try:
        if isinstance(mount, TmpfsMount):
            real.mkdir(mode=0o1777)
        else:
            _copy_owned(mount.source, real)
        placed = _mtime(touched)
        yield
    finally:
        untouched_by_step = placed is not None and _mtime(touched) == placed
        if placed is not None and isinstance(mount, BindMount) and not mount.readonly:
            _write_back(real, mount.source)
        _remove(real)
        if aside is not None:
            os.rename(aside, real)
        for directory in reversed(made):
            try:
                directory.rmdir()
            except OSError:  # the step left files of its own there: they belong to the layer
                break
        if untouched_by_step:
            os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns))


def _write_back(placed: Path, source: Path) -> None:
    """Make `placed` (the mount's content as the step left it) the mount's source again."""
    if not placed.is_dir() or placed.is_symlink() or not source.is_dir():
        return  # a file mount, or the step replaced the directory: nothing to keep
    fresh = source.with_name(f"{ASIDE_PREFIX}{secrets.token_hex(4)}-{source.name}")
    try:
        os.rename(placed, fresh)  # the same filesystem: nothing is copied
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        _copy_owned(placed, fresh)
    old = source.with_name(f"{ASIDE_PREFIX}{secrets.token_hex(4)}-{source.name}")
    os.rename(source, old)
    os.rename(fresh, source)
    _remove(old)


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _missing_parents(parent: Path) -> list[Path]:
    """`parent` and its ancestors that do not exist, outermost first."""
    missing = []
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return list(reversed(missing))


def _set_aside(path: Path) -> Path | None:
    """Rename what the image has at `path` next to it, or None when nothing is there."""
    if not os.path.lexists(path):
        return None
    aside = path.parent / f"{ASIDE_PREFIX}{secrets.token_hex(4)}-{path.name}"
    try:
        os.rename(path, aside)
    except OSError as err:
        exdev = err.errno == errno.EXDEV
        why = "the overlay cannot rename a base image's directory" if exdev else err.strerror
        raise BuildError(
            f"RUN --mount target {path}: cannot set the image's {path} aside for the step: "
            f"{why}",
            "choose a target the image does not have",
        ) from None
    return aside


def _copy_owned(source: Path, target: Path) -> None:
    """Copy a file (created private, then given its owner and mode) or a tree, with owners."""
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True)
        for src_dir, dirs, files in os.walk(source):
            dst_dir = target / os.path.relpath(src_dir, source)
            for name in [".", *dirs, *files]:
                st = os.lstat(os.path.join(src_dir, name))
                os.lchown(dst_dir / name, st.st_uid, st.st_gid)
        return
    st = source.stat()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)
        os.fchown(out.fileno(), st.st_uid, st.st_gid)
        os.fchmod(out.fileno(), st.st_mode & 0o7777)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
