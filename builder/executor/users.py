"""USER and --chown resolution through the image's own /etc/passwd and /etc/group.

Rules (Docker/BuildKit): `user[:group]`, each a name or a number. A name must exist in the
image; a number need not. RUN: without a group, the gid is the user's primary group from
passwd (0 for an unknown numeric uid) and the supplementary groups are those listing the user
in /etc/group. COPY --chown: without a group the gid equals the uid, as Docker documents.
The files are read inside the root without following links out of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from builder.errors import BuildError, LayerError
from builder.fs.paths import RootDir


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    extra_gids: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Passwd:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class _Group:
    name: str
    gid: int
    members: tuple[str, ...]


def resolve_run_user(root: Path, spec: str) -> ResolvedUser:
    if not spec:
        return ResolvedUser(0, 0)
    user_part, _, group_part = spec.partition(":")
    passwd = _read_passwd(root)
    entry = _find_user(passwd, user_part, spec)
    uid = entry.uid if entry else int(user_part)
    if group_part:
        return ResolvedUser(uid, _group_id(root, group_part, spec))
    gid = entry.gid if entry else 0
    extra: tuple[int, ...] = ()
    if entry:
        extra = tuple(
            sorted({g.gid for g in _read_group(root) if entry.name in g.members and g.gid != gid})
        )
    return ResolvedUser(uid, gid, extra)


def resolve_chown(root: Path | None, spec: str) -> tuple[int, int]:
    """uid, gid for `--chown=spec` (root None: no image files, numbers only)."""
    user_part, _, group_part = spec.partition(":")
    if user_part.isdigit():
        uid = int(user_part)
    else:
        entry = _find_user(_read_passwd(root) if root else [], user_part, spec)
        assert entry is not None
        uid = entry.uid
    if not group_part:
        return uid, uid
    return uid, _group_id(root, group_part, spec)


def _find_user(passwd: list[_Passwd], name: str, spec: str) -> _Passwd | None:
    if not name:
        raise BuildError(f"invalid user {spec!r}")
    if name.isdigit():
        return next((p for p in passwd if p.uid == int(name)), None)
    for p in passwd:
        if p.name == name:
            return p
    raise BuildError(
        f"unable to find user {name}: no matching entries in passwd file",
        hint="create the user in an earlier step, or use a numeric uid",
    )


def _group_id(root: Path | None, name: str, spec: str) -> int:
    if name.isdigit():
        return int(name)
    for g in _read_group(root) if root else []:
        if g.name == name:
            return g.gid
    raise BuildError(f"unable to find group {name}: no matching entries in group file")


def _read_passwd(root: Path) -> list[_Passwd]:
    out = []
    for fields in _read_colon_file(root, "passwd"):
        if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
            out.append(_Passwd(fields[0], int(fields[2]), int(fields[3])))
    return out


def _read_group(root: Path) -> list[_Group]:
    out = []
    for fields in _read_colon_file(root, "group"):
        if len(fields) >= 3 and fields[2].isdigit():
            members = tuple(m for m in (fields[3] if len(fields) > 3 else "").split(",") if m)
            out.append(_Group(fields[0], int(fields[2]), members))
    return out


def _read_colon_file(root: Path, name: str) -> list[list[str]]:
    rootdir = RootDir(root)
    try:
        try:
            opened = rootdir.open_dir(("etc",), create=False)
        except LayerError:  # a symlink loop or a non-directory: no usable file
            return []
        if opened is None:
            return []
        fd, _ = opened
        try:
            try:
                file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except (FileNotFoundError, OSError):
                return []
            with os.fdopen(file_fd, "r", errors="replace") as f:
                return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
        finally:
            os.close(fd)
    finally:
        rootdir.close()
