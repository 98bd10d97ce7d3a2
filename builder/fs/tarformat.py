"""The tar format, lean: a streaming reader for unpacking and a header encoder for writing.

`encode_header(entry) -> bytes` gives the header block(s) of a `TarEntry`: ustar, preceded by
a PAX record block when a name or link is longer than 100 bytes or not ASCII, a number does
not fit its octal field, or xattrs are present (`SCHILY.xattr.NAME`, values raw, keys sorted).
The output is a pure function of the entry: no user/group names, no atime/ctime.

`read_entries(stream) -> Iterator[TarEntry]` yields one entry per member; while an entry is
current, `entry.read(n)` returns its data (the reader skips what the consumer leaves unread).
Names and link names are str (utf-8, surrogateescape for undecodable bytes); `xattrs` holds
PAX `SCHILY.xattr.*` values as raw bytes. Checksums are verified; GNU sparse files, volume
headers and multi-volume archives are rejected with LayerError. Python's tarfile does the
same job about twice as slowly on layers of many small files, which is what base images are.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import Iterator, Protocol

from builder.errors import LayerError

BLOCK = 512
REG, AREG, LNK, SYM, CHR, BLK, DIR, FIFO, CONT = b"0", b"\0", b"1", b"2", b"3", b"4", b"5", b"6", b"7"
PAX, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK = b"x", b"g", b"L", b"K"
MAX_META = 16 << 20  # PAX records / long names larger than this are not a layer
KINDS = {REG: stat.S_IFREG, AREG: stat.S_IFREG, CONT: stat.S_IFREG, LNK: 0, SYM: stat.S_IFLNK,
         CHR: stat.S_IFCHR, BLK: stat.S_IFBLK, DIR: stat.S_IFDIR, FIFO: stat.S_IFIFO}


@dataclass
class TarEntry:
    name: str
    type: bytes
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    linkname: str
    devmajor: int
    devminor: int
    xattrs: dict[str, bytes] = field(default_factory=dict)
    _reader: "_Reader | None" = None

    def isreg(self) -> bool:
        return self.type in (REG, AREG, CONT)

    def isdir(self) -> bool:
        return self.type == DIR

    def issym(self) -> bool:
        return self.type == SYM

    def islnk(self) -> bool:
        return self.type == LNK

    def isfifo(self) -> bool:
        return self.type == FIFO

    def ischr(self) -> bool:
        return self.type == CHR

    def isblk(self) -> bool:
        return self.type == BLK

    def read(self, n: int) -> bytes:
        assert self._reader is not None
        return self._reader.read_data(n)


def _number(field_bytes: bytes, what: str) -> int:
    if field_bytes[:1] and field_bytes[0] & 0x80:  # base-256 (GNU) for large values
        value = int.from_bytes(field_bytes[1:], "big")
        return value - (1 << (8 * len(field_bytes) - 8)) if field_bytes[0] & 0x40 else value
    text = field_bytes.split(b"\0", 1)[0].strip(b" \0")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise LayerError(f"corrupt layer tar: bad {what} field {field_bytes!r}") from None


def _signed_checksum(header: bytes) -> int:
    """Some old writers summed the header as signed chars."""
    return sum(b - 256 if b > 127 else b for b in header[:148] + header[156:]) + 256


def _text(field_bytes: bytes) -> bytes:
    return field_bytes.split(b"\0", 1)[0]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise LayerError("corrupt layer tar: bad PAX record") from None
        if space < 0 or length <= 0 or pos + length > len(data):
            raise LayerError("corrupt layer tar: bad PAX record")
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key] = value
        pos += length
    return records


class ByteReader(Protocol):
    """What reading a tar stream needs: a file, a pipe, a decompressor, a hashing wrapper."""

    def read(self, n: int, /) -> bytes: ...


class _Reader:
    def __init__(self, stream: ByteReader) -> None:
        self._stream = stream
        self._left = 0  # data bytes of the current entry not yet read
        self._pad = 0

    def _exact(self, n: int) -> bytes:
        data = self._stream.read(n)
        while len(data) < n:
            more = self._stream.read(n - len(data))
            if not more:
                raise LayerError("corrupt layer tar: unexpected end of data")
            data += more
        return data

    def read_data(self, n: int) -> bytes:
        n = min(n, self._left)
        if n <= 0:
            return b""
        data = self._stream.read(n)
        if not data:
            raise LayerError("corrupt layer tar: unexpected end of data")
        self._left -= len(data)
        return data

    def _skip_rest(self) -> None:
        while self._left:
            self.read_data(1 << 20)
        if self._pad:
            self._exact(self._pad)
            self._pad = 0

    def _start_data(self, size: int) -> None:
        self._left = size
        self._pad = -size % BLOCK

    def _meta(self, size: int) -> bytes:
        if size > MAX_META:
            raise LayerError(f"corrupt layer tar: {size}-byte metadata record")
        self._start_data(size)
        data = self._exact(size)
        self._left = 0
        self._skip_rest()
        return data

    def entries(self) -> Iterator[TarEntry]:
        pax_global: dict[bytes, bytes] = {}
        pax: dict[bytes, bytes] = {}
        long_name = long_link = None
        while True:
            self._skip_rest()
            header = self._stream.read(BLOCK)
            if len(header) < BLOCK:
                if not header.strip(b"\0"):
                    return  # some writers end without the second zero block
                raise LayerError("corrupt layer tar: truncated header")
            if not header.strip(b"\0"):
                return
            stored = _number(header[148:156], "checksum")
            computed = sum(header[:148]) + 256 + sum(header[156:])
            if stored != computed and stored != _signed_checksum(header):
                raise LayerError("corrupt layer tar: header checksum mismatch")
            kind = header[156:157]
            size = _number(header[124:136], "size")
            if kind == PAX:
                pax = _parse_pax(self._meta(size))
                continue
            if kind == PAX_GLOBAL:
                pax_global.update(_parse_pax(self._meta(size)))
                continue
            if kind == GNU_LONGNAME:
                long_name = _text(self._meta(size))
                continue
            if kind == GNU_LONGLINK:
                long_link = _text(self._meta(size))
                continue
            if kind not in KINDS:
                raise LayerError(f"layer tar entry of unsupported type {kind!r}")
            records = {**pax_global, **pax}
            if any(k.startswith(b"GNU.sparse") for k in records):
                raise LayerError("layer tar holds a GNU sparse file, which layers do not use")
            name = _text(header[0:100])
            if header[257:263] == b"ustar\0" and header[345:500].strip(b"\0"):
                name = _text(header[345:500]) + b"/" + name
            name = records.get(b"path", long_name or name)
            link = records.get(b"linkpath", long_link or _text(header[157:257]))
            if b"size" in records:
                size = int(records[b"size"])
            entry = TarEntry(
                name=_decode(name),
                type=kind,
                size=size if kind in (REG, AREG, CONT) else 0,
                mode=_number(header[100:108], "mode") & 0o7777,
                uid=int(records[b"uid"]) if b"uid" in records else _number(header[108:116], "uid"),
                gid=int(records[b"gid"]) if b"gid" in records else _number(header[116:124], "gid"),
                mtime=float(records[b"mtime"]) if b"mtime" in records else _number(header[136:148], "mtime"),
                linkname=_decode(link),
                devmajor=_number(header[329:337], "devmajor"),
                devminor=_number(header[337:345], "devminor"),
                xattrs={
                    _decode(k[len(b"SCHILY.xattr."):]): v
                    for k, v in records.items()
                    if k.startswith(b"SCHILY.xattr.")
                },
                _reader=self,
            )
            # data follows for regular files; other types may declare a size but carry none
            self._start_data(size if kind in (REG, AREG, CONT) else 0)
            pax, long_name, long_link = {}, None, None
            yield entry


_OCTAL_LIMITS = {8: 8**7, 12: 8**11}


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length = len(str(length).encode()) + len(body)
    return str(length).encode() + body


def _ustar(name: bytes, kind: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
           link: bytes, devmajor: int, devminor: int) -> bytes:
    header = b"".join((
        name[:100].ljust(100, b"\0"), _octal(mode, 8), _octal(uid, 8), _octal(gid, 8),
        _octal(size, 12), _octal(mtime, 12), b"        ", kind, link[:100].ljust(100, b"\0"),
        b"ustar\x0000", b"\0" * 64, _octal(devmajor, 8), _octal(devminor, 8), b"\0" * 167,
    ))
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


def encode_header(entry: TarEntry) -> bytes:
    name = entry.name.encode("utf-8", "surrogateescape")
    link = entry.linkname.encode("utf-8", "surrogateescape")
    mtime = max(0, int(entry.mtime))
    records: list[bytes] = []
    if len(name) > 100 or not name.isascii():
        records.append(_pax_record(b"path", name))
    if len(link) > 100 or not link.isascii():
        records.append(_pax_record(b"linkpath", link))
    numbers = {"uid": (entry.uid, 8), "gid": (entry.gid, 8), "size": (entry.size, 12), "mtime": (mtime, 12)}
    fitting = {}
    for key, (value, width) in numbers.items():
        if value >= _OCTAL_LIMITS[width]:
            records.append(_pax_record(key.encode(), str(value).encode()))
            value = 0
        fitting[key] = value
    for key in sorted(entry.xattrs):
        records.append(_pax_record(b"SCHILY.xattr." + key.encode("utf-8", "surrogateescape"), entry.xattrs[key]))
    main = _ustar(name, entry.type, entry.mode & 0o7777, fitting["uid"], fitting["gid"], fitting["size"],
                  fitting["mtime"], link, entry.devmajor, entry.devminor)
    if not records:
        return main
    pax = b"".join(records)
    pax_header = _ustar(b"././@PaxHeader", PAX, 0o644, 0, 0, len(pax), 0, b"", 0, 0)
    return pax_header + pax + b"\0" * (-len(pax) % BLOCK) + main


def read_entries(stream: ByteReader) -> Iterator[TarEntry]:
    return _Reader(stream).entries()
