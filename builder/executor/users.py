"""USER and --chown resolution through the image's own /etc/passwd and /etc/group.

Rules (BuildKit): `user[:group]`, each a name or a number. A name must exist in the image; a
number need not. RUN resolves as runc's GetExecUser and BuildKit's WithUIDGID: without a
group, the gid is the user's primary group from passwd (0 for an unknown numeric uid) and the
process's groups are those of /etc/group listing the user by name (initgroups); with a group,
only that group. The primary gid is always among the groups. COPY --chown: a user name
without a group takes that user's primary group; a numeric uid without a group gets gid = uid.
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
    extra_gids: tuple[int, ...] = ()  # setgroups(): the primary gid included, as runc sets it


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
        return ResolvedUser(0, 0, (0,))
    user_part, _, group_part = spec.partition(":")
    if user_part.isdigit() and group_part.isdigit():  # BuildKit's fast path: no file read
        return ResolvedUser(int(user_part), int(group_part), (int(group_part),))
    entry = _find_user(_read_passwd(root), user_part, spec)
    uid = entry.uid if entry else int(user_part)
    if group_part:
        gid = _group_id(root, group_part, spec)
        return ResolvedUser(uid, gid, (gid,))
    gid = entry.gid if entry else 0
    listed = [g.gid for g in _read_group(root) if entry and entry.name in g.members]
    return ResolvedUser(uid, gid, tuple(listed if gid in listed else [gid, *listed]))


def resolve_chown(root: Path | None, spec: str) -> tuple[int, int]:
    """uid, gid for `--chown=spec` (root None: no image files, numbers only)."""
    user_part, _, group_part = spec.partition(":")
    if user_part.isdigit():
        uid = int(user_part)
    else:
        entry = _find_user(_read_passwd(root) if root else [], user_part, spec)
        assert entry is not None
        if not group_part:
            return entry.uid, entry.gid
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
