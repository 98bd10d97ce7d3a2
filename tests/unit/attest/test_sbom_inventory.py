"""What the SBOM lists, read from small root filesystems made here: dpkg (status file and
distroless status.d, copyright licences, source packages, states), apk, Python and npm
packages, executables no package owns; and a root whose links point out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.attest.inventory import take_inventory

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: tool
Status: install ok installed
Architecture: amd64
Source: tool-src (1.0-1)
Version: 1.0-1+b1
Maintainer: Someone <someone@example.org>

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 3
"""

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: glibc

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+

Files: debian/*
Copyright: Debian
License: GPL-2+ or Artistic
"""

APK_INSTALLED = """\
C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
L:MIT
o:musl
m:Maintainer <m@alpinelinux.org>
T:the musl c library
F:lib
R:ld-musl-x86_64.so.1

P:busybox-binsh
V:1.36.1-r5
A:x86_64
L:GPL-2.0-only
o:busybox
"""


def write(root: Path, path: str, content: str | bytes, mode: int = 0o644) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    target.write_bytes(content)
    target.chmod(mode)
    return target


@pytest.fixture
def debian_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root, "etc/os-release", 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    write(root, "var/lib/dpkg/status", DPKG_STATUS)
    write(root, "usr/share/doc/libc6/copyright", COPYRIGHT)
    write(root, "var/lib/dpkg/info/tool.list", "/.\n/usr\n/usr/bin\n/usr/bin/tool\n/bin/sh\n")
    write(root, "usr/bin/tool", ELF, 0o755)
    write(root, "usr/bin/sh", ELF, 0o755)
    os.symlink("usr/bin", root / "bin")  # merged /usr: dpkg's list says /bin/sh
    write(root, "usr/local/bin/loose", ELF + b"loose", 0o755)
    write(root, "usr/local/bin/script", "#!/bin/sh\n", 0o755)  # not ELF: not listed
    site = "usr/lib/python3/dist-packages"
    write(root, f"{site}/Flask-3.0.0.dist-info/METADATA",
          "Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.0\nLicense-Expression: BSD-3-Clause\n"
          "Summary: A web framework\n")
    write(root, f"{site}/Flask-3.0.0.dist-info/RECORD", "flask/_speedups.so,sha256=x,10\n")
    write(root, f"{site}/flask/_speedups.so", ELF, 0o755)  # owned by Flask's RECORD
    write(root, f"{site}/legacy.egg-info",
          "Metadata-Version: 1.0\nName: legacy_pkg\nVersion: 0.1\nLicense: Expat\n")
    write(root, "app/node_modules/left-pad/package.json",
          '{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}')
    write(root, "app/node_modules/@scope/thing/package.json",
          '{"name": "@scope/thing", "version": "2.0.0", "license": {"type": "MIT"},'
          ' "author": {"name": "A. Author"}}')
    write(root, "app/node_modules/@scope/thing/bin/native", ELF, 0o755)  # in an npm package
    write(root, "app/package.json", '{"name": "app", "version": "0.0.1"}')  # not in node_modules
    return root


def by_name(root: Path) -> dict[str, object]:
    return {c.name: c for c in take_inventory(root).components}


def test_dpkg_packages_with_versions_sources_licences_and_states(debian_root: Path) -> None:
    found = by_name(debian_root)
    libc, tool = found["libc6"], found["tool"]
    assert "removed" not in found  # config-files only: nothing of it on disk
    assert libc.purl == ("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
                         "&upstream=glibc%402.36-9%2Bdeb12u4")
    assert libc.source == "glibc 2.36-9+deb12u4"
    assert libc.licence.expression == "LGPL-2.1-or-later AND (GPL-2.0-or-later OR Artistic-1.0-Perl)"
    assert libc.supplier == "GNU Libc Maintainers <debian-glibc@lists.debian.org>"
    assert libc.summary == "GNU C Library: Shared libraries"
    assert tool.source == "tool-src 1.0-1" and tool.version == "1.0-1+b1"
    assert tool.licence is None  # no copyright file


def test_language_packages(debian_root: Path) -> None:
    found = by_name(debian_root)
    assert found["Flask"].purl == "pkg:pypi/flask@3.0.0"
    assert found["Flask"].licence.expression == "BSD-3-Clause"
    assert found["legacy_pkg"].purl == "pkg:pypi/legacy-pkg@0.1"
    assert found["legacy_pkg"].licence.expression == "MIT"  # Debian's Expat
    assert found["left-pad"].purl == "pkg:npm/left-pad@1.3.0"
    assert found["left-pad"].licence.expression == "WTFPL"
    assert found["@scope/thing"].purl == "pkg:npm/%40scope/thing@2.0.0"
    assert found["@scope/thing"].supplier == "A. Author"
    assert "app" not in found


def test_only_executables_no_package_owns_are_listed(debian_root: Path) -> None:
    files = take_inventory(debian_root).files
    assert [f.path for f in files] == ["usr/local/bin/loose"]
    assert files[0].size == len(ELF) + 5 and len(files[0].sha256) == 64


def test_distroless_status_d_and_alpine(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "var/lib/dpkg/status.d/base-files",
          "Package: base-files\nVersion: 12.4\nArchitecture: amd64\n")
    write(root, "var/lib/dpkg/status.d/base-files.md5sums", "abc  etc/issue\n")
    assert [c.purl for c in take_inventory(root).components] == [
        "pkg:deb/linux/base-files@12.4?arch=amd64"]
    alpine = tmp_path / "alpine"
    write(alpine, "etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n")
    write(alpine, "lib/apk/db/installed", APK_INSTALLED)
    write(alpine, "lib/ld-musl-x86_64.so.1", ELF, 0o755)  # owned by musl (R: under F:lib)
    inventory = take_inventory(alpine)
    assert [(c.name, c.purl) for c in inventory.components] == [
        ("musl", "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"),
        ("busybox-binsh",
         "pkg:apk/alpine/busybox-binsh@1.36.1-r5?arch=x86_64&distro=alpine-3.19.1&upstream=busybox"),
    ]
    assert inventory.components[0].licence.expression == "MIT"
    assert inventory.files == ()


def test_links_out_of_the_root_are_read_inside_it(tmp_path: Path) -> None:
    """An image's symlinks resolve inside its root, as in a chroot: a status file linked to
    the building machine's files (absolute or ../) reads the image's own path, or nothing."""
    outside = tmp_path / "host"
    write(outside, "status", "Package: host-secret\nVersion: 1\nStatus: install ok installed\n")
    write(outside, "tool", ELF, 0o755)
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    os.symlink(outside / "status", root / "var/lib/dpkg/status")
    os.symlink("../../../../host/status", root / "var/lib/dpkg/status.d")
    (root / "usr/bin").mkdir(parents=True)
    os.symlink(outside, root / "usr/bin/escape")  # a directory link: never walked into
    write(root, "usr/share/doc/x/copyright", "")
    os.symlink("/proc/self/environ", root / "etc")
    inventory = take_inventory(root)
    assert inventory.components == ()
    assert inventory.files == ()
