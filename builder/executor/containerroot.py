"""`--isolation container-root`: the build root is the container's own "/" (kaniko's model).

Each filesystem state a step starts from is made by clearing "/" and unpacking the stage's
layers into it; RUN steps then execute with the container's real /proc, /dev, /sys, network
and DNS; the walk snapshotter finds what each step changed. Left alone by every clear,
unpack and snapshot (kaniko's ignore list): the builder bundle (its own Python, libraries
and loader, so the base's /usr and /lib can replace the container's), the store and scratch
data (COPY --from sources of earlier stages are moved or unpacked there), every mount point
of the container (the job's workspace, caches, /etc/hosts & co.), /kaniko and --ignore-path.

It runs only where overwriting "/" destroys nothing of value: a throw-away container.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from builder.errors import UsageError
from builder.executor.snapshot import LayerOptions, StepAction, WalkSnapshotter
from builder.fs.changes import DEFAULT_IGNORES, is_ignored, normalize_ignores
from builder.fs.paths import remove_tree
from builder.fs.rootfs import Layer, Rootfs
from builder.fs.walk import WalkSnapshot
from builder.store import Store

log = logging.getLogger(__name__)

ROOT = Path("/")
# Written by the bundle assembler (multiarch/selfimage/bundle.py) at the bundle's top.
BUNDLE_MARKER = ".multiarch-bundle"
MOUNTINFO = Path("/proc/self/mountinfo")
CONTAINER_FILES = (Path("/.dockerenv"), Path("/run/.containerenv"))
CGROUP_HINTS = ("docker", "kubepods", "containerd", "libpod", "lxc", "buildkit")
KANIKO_DIR = "/kaniko"


def container_hint() -> str | None:
    """Why this looks like a container, or None (kaniko's check, a little wider)."""
    for path in CONTAINER_FILES:
        if path.exists():
            return str(path)
    if os.environ.get("container"):
        return f"container={os.environ['container']}"
    try:
        cgroups = Path("/proc/1/cgroup").read_text()
    except OSError:
        cgroups = ""
    for hint in CGROUP_HINTS:
        if hint in cgroups:
            return f"/proc/1/cgroup names {hint}"
    return None


# Filesystems a container engine makes a container's root from; a machine boots from a disk.
CONTAINER_ROOT_FSTYPES = ("overlay", "fuse.fuse-overlayfs", "aufs", "tmpfs", "zfs", "btrfs")


def root_mount(mountinfo: str) -> tuple[str, str, str] | None:
    """(mount root, fstype, source) of the mount at "/", the last one listed."""
    found = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/" and " - " in line:
            fstype, source = line.split(" - ", 1)[1].split()[:2]
            found = (fields[3], fstype, source)
    return found


def machine_root(mountinfo: str) -> str | None:
    """Why "/" looks like a machine's own filesystem, or None for a container's: an engine
    builds a container's root as an overlay (or a subtree bind-mounted as "/")."""
    mount = root_mount(mountinfo)
    if mount is None:
        return "no mount at / in /proc/self/mountinfo"
    subtree, fstype, source = mount
    if subtree != "/" or fstype in CONTAINER_ROOT_FSTYPES:
        return None
    return f"/ is {source} ({fstype}) itself"


def check_container_root(force: bool) -> Path:
    """The bundle directory, once it is safe to replace "/". Refuses (unless `force`) what
    looks like a machine — kaniko's check, made stricter because a marker file alone
    (/.dockerenv) also sits on some VMs: a container marker *and* a container-made root
    filesystem — and always a builder that is not the self-contained bundle."""
    if not force:
        try:
            mountinfo = MOUNTINFO.read_text()
        except OSError:
            mountinfo = ""
        why: str | None = "no /.dockerenv, /run/.containerenv, $container or container cgroup"
        why = machine_root(mountinfo) if container_hint() is not None else why
        if why is not None:
            raise UsageError(
                "--isolation container-root replaces this root's files with the base image's "
                f"and this does not look like a throw-away container ({why}): refusing to "
                "overwrite a machine",
                "run it in a container (multiarch's image), or pass --force if this root may "
                "be destroyed",
            )
    bundle = Path(sys.prefix)
    if not (bundle / BUNDLE_MARKER).is_file():
        raise UsageError(
            "--isolation container-root needs multiarch's own image: the base image replaces "
            f"/usr and /lib, and this builder runs from {sys.prefix}, not from the "
            "self-contained bundle (/multiarch)",
            "run multiarch's image (./tasks image), or use --isolation auto",
        )
    return bundle


def mount_points(mountinfo: str) -> list[str]:
    """Every mount point but "/" (field 5 of /proc/self/mountinfo, octal escapes decoded)."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] != "/":
            points.append(fields[4].encode().decode("unicode_escape"))
    return points


def protected_paths(bundle: Path, store_root: Path, extra: Iterable[str]) -> tuple[str, ...]:
    """Normalized image paths no clear, unpack or snapshot may touch."""
    try:
        mounts = mount_points(MOUNTINFO.read_text())
    except OSError:
        mounts = []
    tmp = os.environ.get("TMPDIR", "")
    return normalize_ignores(
        [str(bundle), str(store_root), *([tmp] if tmp else []), KANIKO_DIR, *DEFAULT_IGNORES,
         *map(str, CONTAINER_FILES), *mounts, *extra]  # fmt: skip
    )


def holder_dirs(keep: tuple[str, ...], root: Path = ROOT) -> dict[str, int]:
    """The directories that hold kept paths without being kept (/etc for /etc/hosts), by
    their ctime: one that moves later was written by the stage (a layer or a step)."""
    holders = {}
    for kept in keep:
        parts = kept.split("/")
        for i in range(1, len(parts)):
            rel = "/".join(parts[:i])
            if rel not in holders and not is_ignored(rel, keep):
                try:
                    st = os.lstat(root / rel)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    holders[rel] = st.st_ctime_ns
    return holders


def clear_root(keep: tuple[str, ...], root: Path = ROOT, *, park: ParkedRoot | None = None) -> None:
    """Empty `root` but for the kept paths and the directories holding them; with `park`,
    what leaves is moved aside rather than deleted, as long as it can be."""
    todo = [""]
    while todo:
        rel_dir = todo.pop()
        fd = os.open(root / rel_dir if rel_dir else root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in os.listdir(fd):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if is_ignored(rel, keep):
                    continue
                if any(k.startswith(rel + "/") for k in keep):
                    todo.append(rel)
                elif park is None or not park.move(fd, rel_dir, name):
                    remove_tree(fd, name)
        finally:
            os.close(fd)


class ParkedRoot:
    """Where a finished root is moved aside (a rename per entry: the tree as it was, less the
    kept paths). Directories that hold kept paths are made there as the tree had them: on
    first use, or up front for `holders` the stage wrote; an empty one the stage never had
    (/run kept only for /run/.containerenv) stays out. `ok` turns False at the first rename
    that fails (`target` on another filesystem): the rest is deleted, the view unpacked."""

    def __init__(self, root: Path, target: Path, holders: Iterable[str]) -> None:
        self.root, self.target = root, target
        self.ok = True
        self._made = {""}
        self._stamps: list[tuple[Path, os.stat_result]] = []  # set once the children are in
        for rel in sorted(holders):
            self._holder(rel)

    def _holder(self, rel: str) -> None:
        if rel in self._made:
            return
        self._holder(rel.rpartition("/")[0])
        st = os.lstat(self.root / rel)
        path = self.target / rel
        path.mkdir()
        os.chown(path, st.st_uid, st.st_gid)
        path.chmod(stat.S_IMODE(st.st_mode))
        self._stamps.append((path, st))
        self._made.add(rel)

    def move(self, dir_fd: int, rel_dir: str, name: str) -> bool:
        if self.ok:
            try:
                self._holder(rel_dir)
                os.rename(name, self.target / rel_dir / name, src_dir_fd=dir_fd)
                return True
            except OSError as err:
                log.debug("cannot move /%s aside (%s): deleting the rest",
                          f"{rel_dir}/{name}" if rel_dir else name, err.strerror)
                self.ok = False
        return False

    def finish(self) -> bool:
        for path, st in reversed(self._stamps):
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return self.ok


class ContainerRootSnapshotter(WalkSnapshotter):
    """The walk snapshotter on "/" itself: one filesystem state at a time, so stages run one
    after another; views (COPY --from) live in scratch under the store."""

    def __init__(self, scratch: Path, store: Store, options: LayerOptions, *,
                 keep: tuple[str, ...], full: bool = False) -> None:  # fmt: skip
        super().__init__(scratch, store, options, full=full)
        self.keep = keep
        self._state: tuple[str, ...] | None = None
        self._snapshot: WalkSnapshot | None = None
        self._views: dict[tuple[str, ...], Path] = {}
        self._holders: dict[str, int] = {}

    def step(self, rootfs: Rootfs, action: StepAction, *, sandboxed: bool) -> Layer | None:
        key = self._key(rootfs)
        if key != self._state or self._snapshot is None:
            self._install(rootfs)
            self._snapshot = WalkSnapshot(ROOT, self.keep, full=self.full, watch=True)
        layer = self._write(self._snapshot.changes(exclude=action(ROOT)), None)
        self._state = key + ((layer.descriptor.digest,) if layer else ())
        return layer

    def _install(self, rootfs: Rootfs) -> None:
        self._state = None
        self.release()
        clear_root(self.keep)
        self._holders = holder_dirs(self.keep)
        self._unpack(rootfs, ROOT, self.keep)

    def release(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None

    def view(self, rootfs: Rootfs) -> Path:
        """A finished filesystem to read. The one "/" holds (a stage just built, now read by
        COPY --from or the SBOM) is moved aside, a rename per top-level entry; any other is
        unpacked into scratch. Either lacks the kept paths (kaniko's stage files too)."""
        key = self._key(rootfs)
        if key not in self._views:  # stages take turns here: no other thread adds views
            if key == self._state:
                self._state = None
                self.release()
                written = [rel for rel, ctime in holder_dirs(self.keep).items()
                           if self._holders.get(rel) != ctime]
                park = ParkedRoot(ROOT, self.new_dir("view"), written)
                clear_root(self.keep, park=park)
                if park.finish():
                    self._views[key] = park.target
                    return park.target
            self._views[key] = self._materialize(rootfs)
        return self._views[key]


def container_root_snapshotter(scratch: Path, store: Store, options: LayerOptions, *,
                               full: bool = False) -> ContainerRootSnapshotter:  # fmt: skip
    """The snapshotter for "/", keeping the builder's own files and the container's mounts.
    The bundle becomes mode 0700: RUN steps under another USER cannot look into it."""
    bundle = Path(sys.prefix)
    try:
        bundle.chmod(0o700)
    except OSError as err:  # a read-only image layer or volume: say so, build on
        log.warning("warning: cannot make %s private to the builder: %s", bundle, err.strerror)
    keep = protected_paths(bundle, store.root, options.ignore_paths)
    return ContainerRootSnapshotter(scratch, store, options, keep=keep, full=full)
