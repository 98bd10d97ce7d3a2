"""The filesystem-changing instructions: RUN, WORKDIR, COPY and ADD.

Each returns `(created_by, layer)`: the history text (None when the step wrote its own
history entry) and the new layer (None when nothing changed).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.dockerfile import (
    AddInstruction,
    CacheSharing,
    CopyInstruction,
    Mount,
    MountType,
    RunInstruction,
    WorkdirInstruction,
)
from builder.dockerfile.chmod import Chmod, ChmodError, parse_chmod
from builder.dockerfile.instructions import is_url
from builder.errors import BuildError
from builder.executor import addsources
from builder.executor.containerroot import ContainerRootSnapshotter
from builder.executor.copier import CopyOptions, copy_targets, ensure_dir
from builder.executor.imageconfig import run_created_by
from builder.executor.preflight import check_step
from builder.executor.rootmounts import placed_mounts
from builder.executor.users import resolve_chown, resolve_run_user
from builder.fs.changes import keep_below
from builder.fs.copysources import (
    Target,
    context_filter,
    dest_path,
    plan_targets,
    resolve_in_root,
)
from builder.fs.paths import RootDir
from builder.fs.patterns import ExcludeMatcher
from builder.fs.rootfs import Layer
from builder.log import register_secret
from builder.sandbox import BindMount, RunSpec, TmpfsMount
from builder.sandbox import run as sandbox_run
from builder.store.locks import FileLock, try_exclusive

if TYPE_CHECKING:
    from builder.executor.stage import StageExecutor
    from builder.options import SecretSource

StepResult = tuple[str | None, Layer | None]
HEREDOC_DIR = "/.multiarch-heredoc"


# --- RUN -----------------------------------------------------------------------------------


def run(ex: "StageExecutor", ins: RunInstruction, args: list[tuple[str, str]],
        output: Callable[[str], None]) -> StepResult:
    check_step(ins)
    argv_spec = ins.run_argv(tuple(ex.state.shell))
    env = list(ex.scope.run_env())
    mounts: list[BindMount | TmpfsMount] = []
    held = ExitStack()  # cache-mount locks, released when the step ends
    try:
        for mount in ins.mounts:
            mounts.extend(_sandbox_mounts(ex, mount, env, held))
    except BaseException:
        held.close()
        raise
    argv = argv_spec.argv
    if argv_spec.script is not None:
        # BuildKit runs a shebang heredoc as /dev/pipes/NAME; the sandbox keeps /dev to
        # itself, so the script is mounted beside it (history still names /dev/pipes).
        script_dir = ex.session.snapshotter.new_dir("script")
        script = script_dir / argv_spec.script.name
        script.write_text(argv_spec.script.body)
        script.chmod(0o755)
        mounts.append(BindMount(script_dir, HEREDOC_DIR, readonly=True))
        argv = (f"{HEREDOC_DIR}/{argv_spec.script.name}",) + argv[1:]
    state = ex.state

    def action(root: Path) -> list[str]:
        user = resolve_run_user(root, state.user)
        _make_dirs(root, state.workdir, None)
        # container-root cannot mount: the mounts' contents are placed at their targets
        # and taken away before the snapshot
        snapshotter = ex.session.snapshotter
        keep = snapshotter.keep if isinstance(snapshotter, ContainerRootSnapshotter) else None
        spec = RunSpec(
            root=root,
            argv=argv,
            env=tuple(env),
            cwd=state.workdir,
            uid=user.uid,
            gid=user.gid,
            extra_gids=user.extra_gids,
            mounts=() if keep is not None else tuple(mounts),
            network=ex.session.run_network_for(ins.network),
            extra_hosts=ex.session.extra_hosts,
            platform=ex.platform,
        )
        with placed_mounts(mounts, keep) if keep is not None else nullcontext():
            code = sandbox_run(spec, ex.session.isolation, output)
        if code != 0:
            raise BuildError(
                f'process "{" ".join(argv_spec.argv)}" did not complete successfully: '
                f"exit code: {code}"
            )
        return [m.target for m in mounts]

    try:
        layer = ex.cache.snapshot(action, sandboxed=True)
    finally:
        held.close()
    return run_created_by(list(argv_spec.argv), args, dict(ex.scope.env)), layer


def _cache_dir(ex: "StageExecutor", mount: Mount, held: ExitStack) -> Path:
    """The persistent directory of a cache mount, locked as its `sharing=` asks: `locked`
    waits for other builds using it, `private` takes a fresh throwaway dir when it is busy."""
    raw = mount.id or mount.target
    name = hashlib.sha256(raw.encode()).hexdigest()[:12] + "-" + re.sub(r"[^A-Za-z0-9_.-]", "_", raw)[-40:]
    root = ex.session.cache_mounts
    root.mkdir(parents=True, exist_ok=True)
    lock_file = root / f"{name}.lock"
    if mount.sharing is CacheSharing.LOCKED:
        held.enter_context(FileLock(lock_file))
    elif mount.sharing is CacheSharing.PRIVATE:
        lock = try_exclusive(lock_file)
        if lock is None:
            return ex.session.snapshotter.new_dir("cache")
        held.callback(lock.release)
    path = root / name
    if not path.exists():
        path.mkdir(mode=mount.mode if mount.mode is not None else 0o755)
        os.chown(path, mount.uid or 0, mount.gid or 0)
    return path


def _sandbox_mounts(ex: "StageExecutor", mount: Mount, env: list[str], held: ExitStack
                    ) -> list[BindMount | TmpfsMount]:
    session = ex.session
    if mount.type is MountType.SECRET:
        value = session.secrets.get(mount.id or "")
        if value is None:
            if mount.required:
                raise BuildError(f"secret {mount.id} not found", "pass it with --secret id=ID,src=PATH")
            return []
        if mount.env:
            env.append(f"{mount.env}={value.decode(errors='replace')}")
        if not mount.target:
            return []
        path = session.snapshotter.new_dir("secret") / "value"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(value)
        os.chown(path, mount.uid or 0, mount.gid or 0)
        os.chmod(path, mount.mode if mount.mode is not None else 0o400)
        return [BindMount(path, mount.target, readonly=True)]
    if mount.type is MountType.CACHE:
        return [BindMount(_cache_dir(ex, mount, held), mount.target, readonly=mount.readonly)]
    if mount.type is MountType.TMPFS:
        return [TmpfsMount(mount.target, mount.size)]
    if mount.type is MountType.BIND:
        root, what = _source_root(ex, mount.from_)
        parts = [p for p in (mount.source or "").split("/") if p]
        source = resolve_in_root(root, parts)
        if source is None:
            raise BuildError(f'bind mount source "/{"/".join(parts)}" not found in the {what}')
        if not mount.readonly:  # writes are allowed but thrown away, as in BuildKit
            copy_dir = session.snapshotter.new_dir("bind") / "src"
            if source.is_dir():
                shutil.copytree(source, copy_dir, symlinks=True)
            else:
                shutil.copy2(source, copy_dir)
            source = copy_dir
        return [BindMount(source, mount.target, readonly=mount.readonly)]
    raise BuildError(f"RUN --mount=type={mount.type.value} is not supported", "use secret, cache, bind or tmpfs")


def _source_root(ex: "StageExecutor", from_: str | None) -> tuple[Path, str]:
    session = ex.session
    if not from_:
        return session.context_dir, "build context"
    stage = ex.plan.resolve_from(from_)
    if stage is not None:
        return session.view(session.stages[stage.index].rootfs), f"stage {stage.display_name}"
    directory = ex.plan.local_context(from_)
    if directory is not None:
        return Path(directory), f"build context {from_}"
    image = ex.plan.from_image(from_)
    return session.view(session.base_image(image, ex.platform).rootfs), f"image {image}"


def _make_dirs(root: Path, path: str, owner: tuple[int, int] | None) -> None:
    parts = tuple(p for p in path.split("/") if p)
    if not parts:
        return
    rootdir = RootDir(root)
    try:
        os.close(ensure_dir(rootdir, parts, owner))
    finally:
        rootdir.close()


# --- WORKDIR -------------------------------------------------------------------------------


def workdir(ex: "StageExecutor", ins: WorkdirInstruction) -> StepResult:
    wd = ex.state.set_workdir(ins.path)
    if wd == "/":
        ex.state.commit("WORKDIR /", layer=False)
        return None, None
    user_spec = ex.state.user

    def action(root: Path) -> list[str]:
        owner = None
        if user_spec:
            user = resolve_run_user(root, user_spec)
            owner = (user.uid, user.gid)
        _make_dirs(root, wd, owner)
        return []

    return f"WORKDIR {wd}", ex.cache.snapshot(action, sandboxed=False)


# --- COPY / ADD ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Extract:
    archive: Path
    kind: str
    dest: str


def copy(ex: "StageExecutor", ins: CopyInstruction | AddInstruction) -> StepResult:
    is_add = isinstance(ins, AddInstruction)
    from_ = ins.from_ if isinstance(ins, CopyInstruction) else None
    parents = isinstance(ins, CopyInstruction) and ins.parents
    check_step(ins)
    checksum = ins.checksum if isinstance(ins, AddInstruction) else None
    mode = _chmod(ins.chmod)
    exclude = ExcludeMatcher(ins.excludes) if ins.excludes else None
    workdir_ = ex.state.workdir
    session = ex.session
    dest_abs, _ = dest_path(ins.dest, workdir_)

    copies: list[tuple[list[Target], bool]] = []  # (targets, from the build context)
    extracts: list[_Extract] = []
    urls = [s for s in ins.sources if is_add and is_url(s)]
    local = [s for s in ins.sources if s not in urls]
    many = len(ins.sources) + len(ins.inline_files) > 1
    if local:
        root, what = _source_root(ex, from_)
        ignore = session.dockerignore
        ignored = (context_filter(root, ignore.excluded, ignore.has_exclusions)
                   if not from_ and ignore.patterns else None)
        targets = plan_targets(root, tuple(local), ins.dest if not many else _as_dir(ins.dest),
                               workdir_, parents=parents, ignored=ignored, what=what)
        plain = []
        for target in targets:
            kind = addsources.archive_kind(target.source.path) if is_add and not target.source.is_dir else None
            if kind is not None:
                extracts.append(_Extract(target.source.path, kind, dest_abs))
            else:
                plain.append(target)
        copies.append((plain, not from_ or ex.plan.local_context(from_) is not None))
    if urls:
        fetch_dir = session.snapshotter.new_dir("url")
        for url in urls:
            addsources.download(url, fetch_dir, checksum, addsources.proxies_from(session.build_args))
        copies.append((plan_targets(fetch_dir, tuple(addsources.url_filename(u) for u in urls),
                                    ins.dest if not many else _as_dir(ins.dest), workdir_), False))
    if ins.inline_files:
        doc_dir = session.snapshotter.new_dir("heredoc")
        for doc in ins.inline_files:
            path = doc_dir / doc.name
            path.write_text(doc.data)
            path.chmod(0o644)
        copies.append((plan_targets(doc_dir, tuple(d.name for d in ins.inline_files),
                                    ins.dest if not many else _as_dir(ins.dest), workdir_), False))

    context_ignore = session.dockerignore if not from_ else None
    # --link: the files are copied onto an empty tree that becomes the layer, so nothing of
    # the earlier state is read (a symlink at the destination is not followed; BuildKit
    # docs/reference.md "COPY --link"); --chown names still come from the image's files.
    link_users = session.snapshotter.view(ex.rootfs) if ins.link and ins.chown else None

    keep = session.snapshotter.keep

    def action(root: Path) -> list[str]:
        owner = resolve_chown(link_users or root, ins.chown) if ins.chown else None
        for targets, from_context in copies:
            options = CopyOptions(
                owner=owner or ((0, 0) if from_context or not from_ else None),
                mode=mode,
                exclude=exclude,
                ignore=context_ignore if from_context else None,
                keep=tuple(str(root / k) for k in keep),
            )
            copy_targets(root, targets, options)
        for item in extracts:
            # The destination's new directories belong to --chown's owner (copy.MkdirAll).
            rootdir = RootDir(root)
            try:
                parts = tuple(p for p in item.dest.split("/") if p)
                os.close(ensure_dir(rootdir, parts, owner))
                opened = rootdir.open_dir(parts, create=False)
                assert opened is not None
                os.close(opened[0])
            finally:
                rootdir.close()
            below = keep_below(keep, "/".join(opened[1]))
            if below is not None:
                addsources.extract_archive(item.archive, item.kind, root.joinpath(*opened[1]),
                                           owner, below)  # fmt: skip
        return []

    layer = ex.cache.snapshot(action, sandboxed=False, onto_empty=ins.link)
    return _copy_created_by(ins, parents), layer


def _as_dir(dest: str) -> str:
    return dest if dest.endswith("/") else dest + "/"


def _chmod(text: str | None) -> Chmod | None:
    if text is None:
        return None
    try:
        return parse_chmod(text)
    except ChmodError as err:
        raise BuildError(str(err), "use an octal mode such as 0755 or a symbolic one such as "
                         "u=rwX,go=rX") from None


def _copy_created_by(ins: CopyInstruction | AddInstruction, parents: bool) -> str:
    words = [ins.keyword]
    if parents:
        words.append("--parents")
    if ins.chown:
        words.append(f"--chown={ins.chown}")
    if ins.chmod:
        words.append(f"--chmod={ins.chmod}")
    words.extend(ins.sources)
    words.extend(f"<<{doc.name}" for doc in ins.inline_files)
    words.append(ins.dest)
    return " ".join(words)


def secret_values(
    sources: Iterable[SecretSource], environ: Mapping[str, str] = os.environ
) -> dict[str, bytes]:
    """--secret id=ID,src=PATH|env=VAR -> id -> bytes, each registered for redaction."""
    values: dict[str, bytes] = {}
    for source in sources:
        if source.src is not None:
            try:
                data = Path(source.src).read_bytes()
            except OSError as err:
                raise BuildError(f"--secret id={source.id}: cannot read {source.src}: {err.strerror}") from None
        else:
            value = environ.get(source.env or "")
            if value is None:
                raise BuildError(f"--secret id={source.id}: environment variable {source.env} is not set")
            data = value.encode()
        register_secret(data)
        values[source.id] = data
    return values

