"""COPY/ADD source resolution and destination rules, as Docker/BuildKit apply them.

- Sources are paths inside a source root (the build context, a stage, an image); `..` and
  absolute paths never leave it; a symlink named as a source is followed inside the root.
- Wildcards (Go filepath.Match, per component) may match nothing (BuildKit allows it);
  a plain path that does not exist is an error.
- A directory source copies its *contents*; a file lands at `dest`, or inside it when `dest`
  ends with '/' (or is '.'), when the sources are several, or when `dest` is an existing
  directory in the image (decided at copy time).
- `--parents` keeps each source's path (below a `/./` pivot, if any) under `dest`.
"""

from __future__ import annotations

import functools
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from builder.errors import BuildError
from builder.fs import devices
from builder.fs.patterns import has_wildcard, match_component
from builder.fs.tarformat import TarEntry

MAX_LINKS = 40


@dataclass(frozen=True)
class Source:
    path: Path
    """Real host path of the source (symlinks resolved inside the source root)."""
    rel: str
    """Path below the source root, as written (after wildcard expansion, without pivot)."""
    is_dir: bool
    device: TarEntry | None = None
    """A device node recorded in place of the missing `path` (builder.fs.devices)."""


@dataclass(frozen=True)
class Target:
    source: Source
    dest: str
    """Absolute image path: the directory a directory's contents go into, or the file path
    (or the directory it goes into, when `into_dir`)."""
    into_dir: bool


def dest_path(dest: str, workdir: str) -> tuple[str, bool]:
    """Absolute destination and whether it is syntactically a directory."""
    is_dir = dest in ("", ".") or dest.endswith("/") or dest.endswith("/.")
    joined = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    return posixpath.normpath("/" + joined.lstrip("/")).replace("//", "/"), is_dir


def plan_targets(
    root: Path,
    sources: tuple[str, ...],
    dest: str,
    workdir: str,
    *,
    parents: bool = False,
    ignored: Callable[[str], bool] | None = None,
    what: str = "build context",
) -> list[Target]:
    dest_abs, dest_is_dir = dest_path(dest, workdir)
    if len(sources) > 1 and not dest_is_dir and not parents:
        raise BuildError(
            "When using COPY with more than one source file, the destination must be a "
            "directory and end with a /"
        )
    matched: list[tuple[Source, str]] = []
    for pattern in sources:
        prefix = _pivot_prefix(pattern)
        for src in resolve_sources(root, pattern, ignored, what):
            matched.append((src, src.rel.removeprefix(prefix).strip("/")))
    multiple = len(matched) > 1
    targets = []
    for src, rel in matched:
        if parents:
            if src.is_dir:
                targets.append(Target(src, posixpath.join(dest_abs, rel), False))
            else:
                parent = posixpath.dirname(rel)
                targets.append(Target(src, posixpath.join(dest_abs, parent), True))
        elif src.is_dir:
            targets.append(Target(src, dest_abs, False))
        else:
            targets.append(Target(src, dest_abs, dest_is_dir or multiple))
    return targets


def _pivot_prefix(pattern: str) -> str:
    """`a/./b/c` -> `a`: with --parents, paths are kept below the `/./` pivot (BuildKit)."""
    text = "/" + pattern
    if "/./" not in text:
        return ""
    return "/".join(p for p in text.split("/./", 1)[0].split("/") if p not in ("", "."))


def context_filter(root: Path, excluded: Callable[[str], bool], may_re_include: bool
                   ) -> Callable[[str], bool]:
    """What the build context leaves out, as BuildKit transfers it: the paths .dockerignore
    `excluded`, except a directory holding a path that `!` patterns (`may_re_include`) bring
    back — it comes along as that path's parent."""

    @functools.cache
    def holds_included(rel: str) -> bool:  # each directory is read once per filter
        real = resolve_in_root(root, rel.split("/"))
        if real is None or real.is_symlink() or not real.is_dir():
            return False
        with os.scandir(real) as entries:
            children = [(f"{rel}/{e.name}", e.is_dir(follow_symlinks=False)) for e in entries]
        return any(not excluded(child) or (is_dir and holds_included(child))
                   for child, is_dir in children)

    def ignored(rel: str) -> bool:
        return excluded(rel) and not (may_re_include and holds_included(rel))

    return ignored


def resolve_sources(
    root: Path, pattern: str, ignored: Callable[[str], bool] | None, what: str
) -> list[Source]:
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    clean: list[str] = []
    for part in parts:  # `..` is clamped at the root, as a chroot would
        if part == "..":
            if clean:
                clean.pop()
        else:
            clean.append(part)
    if not any(has_wildcard(p) for p in clean):
        rel = "/".join(clean)
        real = resolve_in_root(root, clean)
        recorded = _recorded(root, clean) if real is None else None
        if recorded is not None and not (ignored and ignored(rel)):
            return [recorded]
        if real is None or (ignored and rel and ignored(rel)):
            raise BuildError(
                f"failed to compute cache key: \"/{rel}\": not found",
                hint=f"the path does not exist in the {what}"
                + (" (or is excluded by .dockerignore)" if ignored else ""),
            )
        return [_source(real, rel)]
    found: list[Source] = []
    for rel in _glob(root, clean):
        if ignored and ignored(rel):
            continue
        real = resolve_in_root(root, rel.split("/"))
        if real is not None:
            found.append(_source(real, rel))
        elif (recorded := _recorded(root, rel.split("/"))) is not None:
            found.append(recorded)
    return found


def _recorded(root: Path, parts: list[str]) -> Source | None:
    """A device node the unpacker could not create (no CAP_MKNOD), named as a source."""
    parent = resolve_in_root(root, parts[:-1]) if parts else None
    if parent is None or not devices.any_recorded():
        return None
    header = devices.recorded_in(os.path.realpath(parent)).get(parts[-1])
    return Source(parent / parts[-1], "/".join(parts), False, header) if header else None


def _source(real: Path, rel: str) -> Source:
    return Source(real, rel, stat.S_ISDIR(os.stat(real).st_mode))


def _glob(root: Path, parts: list[str]) -> list[str]:
    candidates = [""]
    for part in parts:
        nxt = []
        for base in candidates:
            if not has_wildcard(part):
                nxt.append(f"{base}/{part}" if base else part)
                continue
            real = resolve_in_root(root, base.split("/") if base else [])
            if real is None or not real.is_dir():
                continue
            names = set(os.listdir(real))
            if devices.any_recorded():
                names |= set(devices.recorded_in(os.path.realpath(real)))
            for name in sorted(names):
                if match_component(part, name):
                    nxt.append(f"{base}/{name}" if base else name)
        candidates = nxt
    return candidates


def resolve_in_root(root: Path, parts: list[str]) -> Path | None:
    """The host path of image path `parts` under `root`, following every symlink (the last
    one too) inside the root; None if it does not exist."""
    pending = list(reversed([p for p in parts if p not in ("", ".")]))
    real: list[str] = []
    links = 0
    while pending:
        name = pending.pop()
        if name == "..":
            if real:
                real.pop()
            continue
        path = root.joinpath(*real, name)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise BuildError(f"too many levels of symbolic links: /{'/'.join(parts)}")
            target = os.readlink(path)
            if target.startswith("/"):
                real = []
            pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        if pending and not stat.S_ISDIR(st.st_mode):
            return None
        real.append(name)
    return root.joinpath(*real)
