"""The lean tar reader agrees with Python's tarfile on what real writers produce."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import LayerError
from builder.fs.tarformat import read_entries

NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\0"), min_size=1, max_size=60)
PATHS = st.lists(NAMES, min_size=1, max_size=6).map("/".join).filter(lambda p: p not in (".", ".."))
MEMBERS = st.lists(
    st.tuples(
        PATHS,
        st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]),
        st.binary(max_size=1500),
        st.integers(0, 2**21 - 1) | st.integers(2**21, 2**31),
        PATHS,
    ),
    max_size=8,
)


def build(members, fmt) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8") as tf:
        for name, kind, data, uid, link in members:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.uid = uid
            ti.mtime = 1_234_567_890
            ti.mode = 0o4755
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = link
            if kind == tarfile.REGTYPE:
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return out.getvalue()


def ours(data: bytes):
    result = []
    for e in read_entries(io.BytesIO(data)):
        content = b""
        while chunk := e.read(100):
            content += chunk
        name = e.name.rstrip("/") if e.isdir() else e.name  # tarfile strips it too
        result.append((name, e.type, e.linkname, e.uid, e.mode, int(e.mtime), content))
    return result


def theirs(data: bytes):
    result = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tf:
        for m in tf.getmembers():
            content = tf.extractfile(m).read() if m.isreg() else b""
            result.append((m.name, m.type, m.linkname, m.uid, m.mode, int(m.mtime), content))
    return result


@settings(max_examples=60, deadline=None)
@given(members=MEMBERS, fmt=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]))
def test_agrees_with_tarfile(members, fmt):
    data = build(members, fmt)
    assert ours(data) == theirs(data)


def test_reads_gnu_tar_output(tmp_path):
    src = tmp_path / "src"
    deep = src / ("x" * 150) / ("y" * 150)
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"data")
    (src / "link").symlink_to("z" * 200)
    plain = tmp_path / "plain"  # names that fit ustar's prefix + name split
    (plain / ("a" * 60) / ("b" * 60)).mkdir(parents=True)
    (plain / ("a" * 60) / ("b" * 60) / "f").write_bytes(b"data")
    for fmt, tree in (("gnu", src), ("posix", src), ("ustar", plain)):
        data = subprocess.run(["tar", f"--format={fmt}", "-C", tree, "-cf", "-", "."], capture_output=True, check=True).stdout
        assert ours(data) == theirs(data)
        assert any(len(name) > 100 for name, *_ in ours(data))


def test_corrupt_tars_raise_layer_errors():
    good = build([("f", tarfile.REGTYPE, b"x" * 700, 0, "")], tarfile.PAX_FORMAT)
    with pytest.raises(LayerError, match="checksum"):
        ours(good[:100] + b"\x01" + good[101:])
    with pytest.raises(LayerError, match="end of data"):
        ours(good[:900])
    with pytest.raises(LayerError, match="truncated"):
        ours(good[:1536] + b"\x07" * 100)


XATTRS = st.dictionaries(st.sampled_from(["user.a", "security.capability", "trusted.x"]), st.binary(max_size=40), max_size=3)


@settings(max_examples=60, deadline=None)
@given(
    name=PATHS, link=PATHS, uid=st.integers(0, 2**40), size=st.integers(0, 1000),
    mtime=st.integers(0, 2**40), xattrs=XATTRS, kind=st.sampled_from([b"0", b"2", b"5"]),
)
def test_encoded_headers_read_back_the_same_in_tarfile_and_ours(name, link, uid, size, mtime, xattrs, kind):
    from builder.fs.tarformat import TarEntry, encode_header

    size = size if kind == b"0" else 0
    entry = TarEntry(name=name, type=kind, size=size, mode=0o2755, uid=uid, gid=uid // 3, mtime=mtime,
                     linkname=link if kind == b"2" else "", devmajor=0, devminor=0, xattrs=xattrs)
    data = encode_header(entry) + b"d" * size + b"\0" * (-size % 512) + b"\0" * 1024
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        (m,) = tf.getmembers()
        got_xattrs = {k[13:]: v.encode("utf-8", "surrogateescape") for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
        assert (m.name, m.linkname, m.uid, m.gid, m.size, int(m.mtime), m.mode, got_xattrs) == (
            name.rstrip("/") if kind == b"5" else name, entry.linkname, uid, uid // 3, size, mtime, 0o2755, xattrs
        )
    (back,) = [(e.name, e.uid, e.size, int(e.mtime), e.xattrs) for e in read_entries(io.BytesIO(data))]
    assert back == (name, uid, size, mtime, xattrs)
