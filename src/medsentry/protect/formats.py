"""Recognising container formats from their first bytes (file names lie in firmware)."""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

UIMAGE_MAGIC = b"\x27\x05\x19\x56"
UIMAGE_HEADER = 64
SQUASHFS_MAGICS = (b"hsqs", b"sqsh")

# Containers we open ourselves.
SUPPORTED = (
    "gzip",
    "xz",
    "bzip2",
    "lzma",
    "zip",
    "tar",
    "cpio",
    "ar",
    "squashfs",
    "uimage",
)

# Containers we recognise but do not open; reported so the user knows what was missed.
_RECOGNISED_ONLY: tuple[tuple[int, bytes, str], ...] = (
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"\x04\x22\x4d\x18", "lz4"),
    (0, b"\x45\x3d\xcd\x28", "cramfs"),
    (0, b"UBI#", "ubi"),
    (0, b"\x85\x19\x03\x20", "jffs2"),
    (0, b"\x85\x19\x01\xe0", "jffs2"),
    (0x438, b"\x53\xef", "ext2/3/4"),
    (0x8001, b"CD001", "iso9660"),
)

SNIFF_BYTES = 0x8001 + 8

Buffer = bytes | mmap.mmap


def sniff(head: bytes, name: str = "") -> str | None:
    """The container format of a file from its first bytes, or None for plain files."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and len(head) > 4:
        return "bzip2"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:8] == b"!<arch>\n":
        return "ar"
    if head[:6] in (b"070701", b"070702", b"070707"):
        return "cpio"
    if head[:4] in SQUASHFS_MAGICS and squashfs_size(head, 0, 1 << 62) is not None:
        return "squashfs"
    if head[:4] == UIMAGE_MAGIC and uimage_header(head, 0) is not None:
        return "uimage"
    if _is_tar(head):
        return "tar"
    if name.lower().endswith(".lzma") and head[:1] == b"\x5d":
        return "lzma"
    return None


def recognised_only(head: bytes) -> str | None:
    """Formats we can name but not open (see ``_RECOGNISED_ONLY``)."""
    for offset, magic, label in _RECOGNISED_ONLY:
        if head[offset : offset + len(magic)] == magic:
            return label
    return None


def _is_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    # Old V7 tar has no magic: accept it when the header checksum is right.
    try:
        stored = int(head[148:156].split(b"\x00")[0].strip() or b"-1", 8)
    except ValueError:
        return False
    block = head[:148] + b" " * 8 + head[156:512]
    return stored == sum(block) and head[0] != 0


@dataclass(frozen=True)
class UImageHeader:
    """The fields of a legacy U-Boot image header we use."""

    size: int
    os: int
    arch: int
    image_type: int
    compression: int
    name: str


UIMAGE_COMPRESSION = {0: "none", 1: "gzip", 2: "bzip2", 3: "lzma", 4: "lzo", 5: "lz4", 6: "zstd"}


def uimage_header(data: Buffer, offset: int) -> UImageHeader | None:
    """Parse and CRC-check a U-Boot legacy header at ``offset``; None if it is not one."""
    raw = data[offset : offset + UIMAGE_HEADER]
    if len(raw) < UIMAGE_HEADER or raw[:4] != UIMAGE_MAGIC:
        return None
    (hcrc,) = struct.unpack(">I", raw[4:8])
    if zlib.crc32(raw[:4] + b"\x00" * 4 + raw[8:]) != hcrc:
        return None
    size = struct.unpack(">I", raw[12:16])[0]
    os_id, arch, image_type, comp = raw[28], raw[29], raw[30], raw[31]
    name = raw[32:64].split(b"\x00")[0].decode("latin-1")
    return UImageHeader(size, os_id, arch, image_type, comp, name)


def squashfs_size(data: Buffer, offset: int, available: int) -> int | None:
    """Bytes used by a squashfs superblock at ``offset``, or None if it is not plausible."""
    raw = data[offset : offset + 96]
    if len(raw) < 48 or raw[:4] not in SQUASHFS_MAGICS:
        return None
    endian = "<" if raw[:4] == b"hsqs" else ">"
    major = struct.unpack(endian + "H", raw[28:30])[0]
    if major == 4:
        block_size = struct.unpack(endian + "I", raw[12:16])[0]
        block_log = struct.unpack(endian + "H", raw[22:24])[0]
        if block_size != 1 << block_log or not 4096 <= block_size <= 1 << 20:
            return None
        used = struct.unpack(endian + "Q", raw[40:48])[0]
    elif major == 3:
        # squashfs 3.x superblock: bytes_used is a 64-bit field at offset 63.
        if len(raw) < 71:
            return None
        used = struct.unpack(endian + "Q", raw[63:71])[0]
    else:
        return None
    if used < 96 or used > available:
        return None
    return int(used)


def read_head(path: Path, count: int = SNIFF_BYTES) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(count)
