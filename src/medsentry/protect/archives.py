"""Readers for the small archive formats the standard library lacks: cpio and ar.

Both yield members with their data offset, so the caller can validate every name and
size before writing anything.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


class ArchiveFormatError(ValueError):
    """The archive is truncated or malformed."""


@dataclass(frozen=True)
class Member:
    name: str
    mode: int  # full st_mode: type and permission bits
    size: int
    offset: int  # where the data starts in the archive file
    link_target: str = ""

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


def _read_exact(fh: BinaryIO, count: int, what: str) -> bytes:
    data = fh.read(count)
    if len(data) != count:
        raise ArchiveFormatError(f"truncated {what}")
    return data


def _pad(value: int, align: int) -> int:
    return (align - value % align) % align


def iter_cpio(fh: BinaryIO) -> Iterator[Member]:
    """Members of a 'newc'/'crc' (070701/070702) or portable 'odc' (070707) cpio archive."""
    while True:
        start = fh.tell()
        magic = fh.read(6)
        if not magic:
            return
        if magic in (b"070701", b"070702"):
            fields = _read_exact(fh, 104, "cpio header")
            try:
                values = [int(fields[i : i + 8], 16) for i in range(0, 104, 8)]
            except ValueError as exc:
                raise ArchiveFormatError(f"bad cpio header at byte {start}") from exc
            mode, size, namesize = values[1], values[6], values[11]
            name_bytes = _read_exact(fh, namesize, "cpio name")
            fh.seek(_pad(110 + namesize, 4), 1)
            data_pad = _pad(size, 4)
        elif magic == b"070707":
            fields = _read_exact(fh, 70, "cpio header")
            try:
                mode = int(fields[12:18], 8)
                namesize = int(fields[53:59], 8)
                size = int(fields[59:70], 8)
            except ValueError as exc:
                raise ArchiveFormatError(f"bad cpio header at byte {start}") from exc
            name_bytes = _read_exact(fh, namesize, "cpio name")
            data_pad = 0
        else:
            if magic.strip(b"\x00") == b"":
                return  # zero padding after the trailer
            raise ArchiveFormatError(f"unknown cpio header {magic!r} at byte {start}")
        name = name_bytes.rstrip(b"\x00").decode("utf-8", "surrogateescape")
        if name == "TRAILER!!!":
            return
        offset = fh.tell()
        link = ""
        if stat.S_ISLNK(mode):
            link = _read_exact(fh, size, "cpio link").decode("utf-8", "surrogateescape")
        else:
            fh.seek(size, 1)
        fh.seek(data_pad, 1)
        yield Member(name, mode, size, offset, link)


def iter_ar(fh: BinaryIO) -> Iterator[Member]:
    """Members of a GNU or BSD ``ar`` archive (Debian packages, static libraries)."""
    if fh.read(8) != b"!<arch>\n":
        raise ArchiveFormatError("not an ar archive")
    long_names = b""
    while True:
        header = fh.read(60)
        if not header.strip():
            return
        if len(header) != 60 or header[58:60] != b"`\n":
            raise ArchiveFormatError(f"bad ar header at byte {fh.tell() - len(header)}")
        raw_name = header[:16].rstrip(b" ")
        try:
            size = int(header[48:58].strip() or b"0")
            mode = int(header[40:48].strip() or b"100644", 8)
        except ValueError as exc:
            raise ArchiveFormatError("bad ar member size or mode") from exc
        header_end = offset = fh.tell()
        total = size
        name: str | None
        if raw_name == b"//":
            long_names = _read_exact(fh, size, "ar name table")
            name = None
        elif raw_name in (b"/", b"/SYM64/", b"__.SYMDEF", b"__.SYMDEF SORTED"):
            name = None  # symbol index
        elif raw_name.startswith(b"#1/"):
            # BSD: the name precedes the data and counts towards the size.
            name_len = int(raw_name[3:])
            name = _read_exact(fh, name_len, "ar name").rstrip(b"\x00").decode("utf-8", "replace")
            offset += name_len
            size -= name_len
        elif raw_name.startswith(b"/") and raw_name[1:].isdigit():
            start = int(raw_name[1:])
            end = long_names.find(b"/\n", start)
            name = long_names[start : end if end >= 0 else None].decode("utf-8", "replace")
        else:
            name = raw_name.rstrip(b"/").decode("utf-8", "replace")
        fh.seek(header_end + total + (total % 2))
        if name is not None:
            yield Member(name, stat.S_IFREG | (mode & 0o7777), size, offset)
