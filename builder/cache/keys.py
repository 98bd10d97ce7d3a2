"""Cache keys: each step's key chains its parent's key (the base manifest digest or the
previous step) with the instruction text, the environment it sees and the platform
(`base_key`, `step_key`). What a step's key covers:

- the instruction *after expansion*, as its typed fields (not its line number or spacing);
- RUN: the environment the command sees (ENV, ARGs in scope, proxy args); COPY, ADD and
  WORKDIR read their expanded words only, so an ARG they do not use never misses them;
- COPY/ADD from the build context: each source file's path, type, permission bits and content
  digest after .dockerignore (not its owner or mtime: a context COPY sets 0:0 unless
  --chown says otherwise, and checkouts differ in both, as BuildKit reasons);
- COPY --from / RUN --mount from=: the source stage's key, or the source image's digest;
- ADD of a URL: only with --checksum (else the step is never cached: the remote may change);
- the layer settings (compression, level, SOURCE_DATE_EPOCH, ignored paths).
Secrets and cache mounts are not part of a key (as in BuildKit).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from builder.dockerfile import (
    AddInstruction,
    CopyInstruction,
    Instruction,
    MountType,
    RunInstruction,
)
from builder.dockerfile.dockerignore import DockerIgnore
from builder.dockerfile.instructions import is_url
from builder.fs.copysources import context_filter, resolve_sources

_LOCATION = frozenset({"file", "line", "end_line", "original", "escape"})
UNCACHEABLE = None


def instruction_material(ins: Instruction) -> str:
    fields = {f.name: getattr(ins, f.name) for f in dataclasses.fields(ins) if f.name not in _LOCATION}
    return ins.keyword + " " + json.dumps(_plain(fields), sort_keys=True, separators=(",", ":"))


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return _plain(value.value)  # enums
    return value


class SourceHasher:
    """Content fingerprints of build-context paths, computed once per build."""

    def __init__(self, context_dir: Path, dockerignore: DockerIgnore) -> None:
        self.context_dir = context_dir
        self.dockerignore = dockerignore
        self._memo: dict[tuple[str, ...], str] = {}
        self._lock = threading.Lock()

    def fingerprint(self, patterns: tuple[str, ...]) -> str:
        with self._lock:
            if patterns not in self._memo:
                self._memo[patterns] = self._compute(patterns)
            return self._memo[patterns]

    def _compute(self, patterns: tuple[str, ...]) -> str:
        ignore = self.dockerignore
        ignored = (context_filter(self.context_dir, ignore.excluded, ignore.has_exclusions)
                   if ignore.patterns else None)
        digest = hashlib.sha256()
        for pattern in patterns:
            digest.update(b"P" + pattern.encode() + b"\0")
            for source in resolve_sources(self.context_dir, pattern, ignored, "build context"):
                self._add_tree(digest, source.path, source.rel, ignored)
        return "sha256:" + digest.hexdigest()

    def _add_tree(self, digest: "hashlib._Hash", path: Path, rel: str,
                  ignored: Callable[[str], bool] | None, *, top: bool = True) -> None:
        """Every path COPY would take; an excluded directory is still walked when `!`
        patterns may re-include something below it."""
        st = os.lstat(path) if not top else os.stat(path)
        skip = not top and ignored is not None and ignored(rel)
        if not skip:
            _add_entry(digest, path, rel, st)
        if not stat.S_ISDIR(st.st_mode) or (skip and not self.dockerignore.has_exclusions):
            return
        for name in sorted(os.listdir(path)):
            self._add_tree(digest, path / name, f"{rel}/{name}" if rel else name, ignored, top=False)


def _add_entry(digest: "hashlib._Hash", path: Path, rel: str, st: os.stat_result) -> None:
    kind = stat.S_IFMT(st.st_mode)
    digest.update(f"E{rel}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        digest.update(os.readlink(path).encode() + b"\0")
    elif stat.S_ISREG(st.st_mode):
        digest.update(f"{st.st_size}\0".encode())
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)


StageKey = Callable[[str], str | None]
"""Name of a `--from` source -> the source stage's key or image digest (None: unknown)."""


def step_extra(ins: Instruction, hasher: SourceHasher, from_key: StageKey) -> str | None:
    """What besides the instruction text a step reads; None when it cannot be cached."""
    parts: list[str] = []
    if isinstance(ins, (CopyInstruction, AddInstruction)):
        from_ = ins.from_ if isinstance(ins, CopyInstruction) else None
        local = tuple(s for s in ins.sources if not is_url(s))
        if len(local) != len(ins.sources) and not (isinstance(ins, AddInstruction) and ins.checksum):
            return UNCACHEABLE
        if from_:
            source = from_key(from_)
            if source is None:
                return UNCACHEABLE
            parts.append("from:" + source)
        elif local:
            parts.append("context:" + hasher.fingerprint(local))
    elif isinstance(ins, RunInstruction):
        for mount in ins.mounts:
            if mount.type is not MountType.BIND:
                continue
            if mount.from_:
                source = from_key(mount.from_)
                if source is None:
                    return UNCACHEABLE
                parts.append(f"mount:{mount.target}:from:{source}")
            else:
                parts.append(f"mount:{mount.target}:" + hasher.fingerprint((mount.source or ".",)))
    return "\n".join(parts)


def fs_step_key(parent: str, ins: Instruction, run_env: tuple[str, ...], platform: str,
                extra: str, layer_settings: str) -> str:
    env = run_env if isinstance(ins, RunInstruction) else ()
    return step_key(parent, instruction_material(ins), env, platform, extra + "\n" + layer_settings)


def metadata_key(parent: str, ins: Instruction, platform: str) -> str:
    return step_key(parent, instruction_material(ins), (), platform)


def base_key(manifest_digest: str | None, platform: str) -> str:
    return _digest({"base": manifest_digest or "scratch", "platform": platform})


def step_key(parent: str, instruction: str, env: Iterable[str], platform: str, extra: str = "") -> str:
    return _digest(
        {"parent": parent, "instruction": instruction, "env": sorted(env), "platform": platform, "extra": extra}
    )


def _digest(material: dict[str, object]) -> str:
    data = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()
