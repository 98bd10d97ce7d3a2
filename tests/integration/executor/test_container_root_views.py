"""Moving a finished stage's root aside for COPY --from (container-root): every entry but the
kept paths leaves by a rename; the directories that hold kept paths are made in the view with
their mode, owner and times when the stage had them, and left out when only the container's
mounts needed them; across filesystems (a volume at the scratch dir) the move falls back to
deleting, and the view is then unpacked as before."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.executor.containerroot import ParkedRoot, clear_root, holder_dirs
from builder.fs.changes import normalize_ignores
from tests.unit.fs.helpers import tree_state

KEEP = normalize_ignores(["/etc/hosts", "/multiarch", "/run/.containerenv", "/srv/mnt"])


@pytest.fixture
def shm() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ctr-views-", dir="/dev/shm"))
    yield path
    shutil.rmtree(path)


def container(root: Path) -> dict[str, int]:
    """A container's root after the first clear: its mounts, the bundle, their holders."""
    for d in ("etc", "run", "srv/mnt", "multiarch/cache"):
        (root / d).mkdir(parents=True)
    (root / "etc/hosts").write_text("container's mount\n")
    (root / "run/.containerenv").write_text("")
    (root / "multiarch/cache/blob").write_text("builder's")
    return holder_dirs(KEEP, root)


def stage(root: Path) -> None:
    """What a stage's layers and steps put there: /etc, an empty /srv, no /run."""
    for d in ("etc/apt", "usr/bin", "data/deep"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").write_text("stage\n")
    (root / "etc/apt/sources.list").write_text("deb\n")
    (root / "data/deep/f").write_text("payload")
    os.symlink("usr/bin", root / "bin")
    os.link(root / "data/deep/f", root / "data/hardlink")
    os.chown(root / "etc", 1, 2)
    (root / "etc").chmod(0o750)
    os.utime(root / "etc", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    (root / "srv").chmod(0o700)


def test_the_stage_moves_aside_as_it_was(shm: Path) -> None:
    root = shm / "root"
    before = container(root)
    stage(root)
    want = tree_state(root, skip=("multiarch", "run"))
    del want["etc/hosts"], want["srv/mnt"]
    inode = os.stat(root / "data/deep/f").st_ino
    written = [rel for rel, ctime in holder_dirs(KEEP, root).items() if before[rel] != ctime]
    assert sorted(written) == ["etc", "srv"]
    (shm / "view").mkdir()
    park = ParkedRoot(root, shm / "view", written)
    clear_root(KEEP, root, park=park)
    assert park.finish()
    assert tree_state(shm / "view") == want
    assert os.stat(shm / "view/data/deep/f").st_ino == inode  # moved, not copied
    assert sorted(os.listdir(root)) == ["etc", "multiarch", "run", "srv"]
    assert os.listdir(root / "etc") == ["hosts"]
    assert (root / "multiarch/cache/blob").read_text() == "builder's"


def test_across_filesystems_the_rest_is_deleted(shm: Path, tmp_path: Path) -> None:
    if os.stat(tmp_path).st_dev == os.stat(shm).st_dev:
        pytest.skip("the temporary directory is on tmpfs too")  # the VMs and CI: /tmp is ext4
    root = shm / "root"
    container(root)
    stage(root)
    (tmp_path / "view").mkdir()
    park = ParkedRoot(root, tmp_path / "view", [])
    clear_root(KEEP, root, park=park)
    assert not park.finish()
    assert sorted(os.listdir(root)) == ["etc", "multiarch", "run", "srv"]
    assert os.listdir(root / "etc") == ["hosts"]
