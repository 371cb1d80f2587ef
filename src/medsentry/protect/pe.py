"""Hardening flags of Windows PE files (workstation and imaging software ship these).

Only the headers are read: the optional header's DllCharacteristics and the security
(Authenticode) data directory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_MACHINES = {0x14C: "x86", 0x8664: "x86-64", 0xAA64: "arm64", 0x1C0: "arm", 0x1C4: "armnt"}
_DYNAMIC_BASE = 0x0040
_FORCE_INTEGRITY = 0x0080
_NX_COMPAT = 0x0100
_NO_SEH = 0x0400
_GUARD_CF = 0x4000
_HIGH_ENTROPY_VA = 0x0020
_RELOCS_STRIPPED = 0x0001
_DLL = 0x2000


class PeParseError(ValueError):
    """The file starts like a PE file but its headers are not usable."""


@dataclass(frozen=True)
class PeReport:
    machine: str
    bits: int
    dll: bool
    aslr: bool  # DYNAMIC_BASE and relocations kept
    high_entropy_va: bool
    nx: bool  # NX_COMPAT (DEP)
    cfg: bool  # GUARD_CF (Control Flow Guard)
    no_seh: bool
    force_integrity: bool
    signed: bool  # an Authenticode signature is attached (not verified here)

    def weaknesses(self) -> list[str]:
        weak = []
        if not self.aslr:
            weak.append("no ASLR")
        if self.bits == 64 and not self.high_entropy_va:
            weak.append("no high-entropy ASLR")
        if not self.nx:
            weak.append("no DEP (NX_COMPAT)")
        if not self.cfg:
            weak.append("no Control Flow Guard")
        if not self.signed:
            weak.append("not signed")
        return weak


def is_pe(head: bytes) -> bool:
    if head[:2] != b"MZ" or len(head) < 0x40:
        return False
    offset = struct.unpack_from("<I", head, 0x3C)[0]
    return head[offset : offset + 4] == b"PE\x00\x00" if offset + 4 <= len(head) else True


def analyse_pe(path: Path) -> PeReport:
    """Hardening flags from the headers of the PE file at ``path``."""
    with open(path, "rb") as fh:
        data = fh.read(64 * 1024)
    try:
        return _parse(data)
    except struct.error as exc:
        raise PeParseError(f"truncated PE headers: {exc}") from exc


def _parse(data: bytes) -> PeReport:
    if data[:2] != b"MZ":
        raise PeParseError("no MZ header")
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe : pe + 4] != b"PE\x00\x00":
        raise PeParseError("no PE signature (a DOS program?)")
    machine, _sections, _time, _symtab, _nsyms, opt_size, characteristics = struct.unpack_from(
        "<HHIIIHH", data, pe + 4
    )
    optional = pe + 24
    magic = struct.unpack_from("<H", data, optional)[0]
    if magic == 0x10B:
        bits, directories = 32, optional + 96
    elif magic == 0x20B:
        bits, directories = 64, optional + 112
    else:
        raise PeParseError(f"unknown optional header magic {magic:#x}")
    if opt_size < directories - optional:
        raise PeParseError("optional header too short")
    dll_flags = struct.unpack_from("<H", data, optional + 70)[0]
    count = struct.unpack_from("<I", data, directories - 4)[0]
    security_size = 0
    if count > 4:
        _security_offset, security_size = struct.unpack_from("<II", data, directories + 4 * 8)
    return PeReport(
        machine=_MACHINES.get(machine, f"{machine:#x}"),
        bits=bits,
        dll=bool(characteristics & _DLL),
        aslr=bool(dll_flags & _DYNAMIC_BASE) and not characteristics & _RELOCS_STRIPPED,
        high_entropy_va=bool(dll_flags & _HIGH_ENTROPY_VA),
        nx=bool(dll_flags & _NX_COMPAT),
        cfg=bool(dll_flags & _GUARD_CF),
        no_seh=bool(dll_flags & _NO_SEH),
        force_integrity=bool(dll_flags & _FORCE_INTEGRITY),
        signed=security_size > 0,
    )
