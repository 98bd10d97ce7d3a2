"""The filesystem side of an unprivileged container, for real: setpriv drops CAP_SYS_ADMIN and
CAP_MKNOD from the bounding set (what podman and docker give a job), `unshare --user` gives a
root whose id map holds only uid 0 (a rootless container)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.fixtures.capabilities import without_caps
from tests.unit.fs.helpers import Entry, make_tar, write_blob

PROBE = """
import sys
from pathlib import Path
from builder.fs.overlay import overlay_available
print(overlay_available(Path(sys.argv[1])))
"""

UNPACK = """
import logging, sys
from pathlib import Path
from builder.errors import LayerError
from builder.fs.unpack import unpack_layer
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stdout)
for blob in sys.argv[2:]:
    try:
        done = unpack_layer(Path(blob), "application/vnd.oci.image.layer.v1.tar", Path(sys.argv[1]))
        print("entries", done.entries)
    except LayerError as err:
        print("error:", err)
"""


def test_overlay_probe_without_sys_admin_means_walk_not_an_error(tmp_path: Path):
    done = without_caps("-sys_admin", PROBE, str(tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")
    assert os.listdir(tmp_path) == []


def debootstrap_like_layer(path: Path) -> Path:
    """/dev as debootstrap leaves it: device nodes beside ordinary files."""
    entries = [Entry("dev", tarfile.DIRTYPE, mode=0o755), Entry("etc", tarfile.DIRTYPE, mode=0o755)]
    for name, minor in (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)):
        entries.append(Entry(f"dev/{name}", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=minor))
    entries += [Entry("dev/loop0", tarfile.BLKTYPE, mode=0o660, gid=6, devmajor=7),
                Entry("dev/fifo", tarfile.FIFOTYPE, mode=0o600),
                Entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
                Entry("usr/bin/su", data=b"#!/bin/sh\n", mode=0o4755)]  # fmt: skip
    write_blob(path, make_tar(entries))
    return path


def test_device_nodes_without_mknod_are_left_out_with_one_warning(tmp_path: Path):
    root = tmp_path / "root"
    first = debootstrap_like_layer(tmp_path / "a.tar")
    second = debootstrap_like_layer(tmp_path / "b.tar")
    done = without_caps("-mknod,-sys_admin", UNPACK, str(root), str(first), str(second))
    assert done.returncode == 0 and done.stderr == ""
    warning, *rest = done.stdout.splitlines()
    assert warning == (
        "WARNING no CAP_MKNOD here: 6 device node(s) of the image (dev/null, dev/zero, "
        "dev/full, ...) are not created in the build root; RUN steps do not see them, the "
        "image's layers keep them"
    )
    assert rest == ["entries 11", "entries 11"]  # one line per process, not per layer
    assert sorted(os.listdir(root / "dev")) == ["fifo"]
    assert (root / "usr/bin/su").stat().st_mode & 0o7777 == 0o4755
    assert (root / "etc/passwd").read_text().startswith("root:")


def test_device_nodes_are_created_where_mknod_is_permitted(tmp_path: Path):
    done = without_caps("-sys_admin", UNPACK, str(tmp_path / "root"),
                        str(debootstrap_like_layer(tmp_path / "a.tar")))  # fmt: skip
    assert done.stdout == "entries 11\n"
    null = (tmp_path / "root/dev/null").stat()
    assert (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)


def test_an_owner_outside_the_id_map_is_one_line_naming_the_entry(tmp_path: Path):
    write_blob(tmp_path / "l.tar", make_tar([Entry("srv/app.conf", data=b"x", uid=1000)]))
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", sys.executable, "-c", UNPACK,
         str(tmp_path / "root"), str(tmp_path / "l.tar")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "error: cannot unpack 'srv/app.conf' (owner 1000:0, mode 644): Invalid argument"
    )
    assert "\n" not in done.stdout.strip()
