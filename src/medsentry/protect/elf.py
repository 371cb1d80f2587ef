"""ELF hardening facts, with the same meaning as checksec/readelf give them.

pyelftools reads the headers, segments and dynamic tags; symbol tables are decoded with
``struct`` straight from the section bytes, because building one Python object per symbol
is too slow for a 100 MB image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO, Literal

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import StringTableSection
from elftools.elf.segments import InterpSegment
from pydantic import BaseModel

from medsentry.protect.datafiles import load_model

ELF_MAGIC = b"\x7fELF"

_PF_X = 0x1
_STRING_TAGS = frozenset({"DT_NEEDED", "DT_SONAME", "DT_RPATH", "DT_RUNPATH"})
_DF_BIND_NOW = 0x8
_DF_1_NOW = 0x1
_DF_1_PIE = 0x08000000

_ARCH_NAMES = {
    "EM_X86_64": "x86-64",
    "EM_386": "x86",
    "EM_ARM": "arm",
    "EM_AARCH64": "aarch64",
    "EM_MIPS": "mips",
    "EM_PPC": "powerpc",
    "EM_PPC64": "powerpc64",
    "EM_RISCV": "riscv",
    "EM_SPARC": "sparc",
    "EM_SPARCV9": "sparc64",
    "EM_SH": "superh",
    "EM_XTENSA": "xtensa",
    "EM_S390": "s390",
    "EM_68K": "m68k",
    "EM_ARC_COMPACT": "arc",
    "EM_MICROBLAZE": "microblaze",
    "EM_NIOS2": "nios2",
}


class DangerousFunction(BaseModel):
    risk: Literal["low", "medium", "high"]
    why: str


class HardeningData(BaseModel):
    dangerous_functions: dict[str, DangerousFunction]
    fortifiable_functions: list[str]
    canary_symbols: list[str]


@cache
def hardening_data() -> HardeningData:
    return load_model("hardening.yaml", HardeningData)


class ElfParseError(ValueError):
    """The file starts like an ELF file but cannot be parsed."""


@dataclass(frozen=True)
class ElfReport:
    """Hardening of one ELF file. ``pie`` is yes/no/dso/rel as checksec reports it."""

    arch: str
    bits: int
    endian: Literal["little", "big"]
    elf_type: str  # EXEC, DYN, REL, CORE
    pie: Literal["yes", "no", "dso", "rel"]
    nx: bool
    relro: Literal["full", "partial", "no"]
    canary: bool
    fortify: bool
    fortified: tuple[str, ...]  # checked variants used, e.g. __memcpy_chk
    fortifiable: tuple[str, ...]  # imported functions that have a checked variant
    stripped: bool  # no .symtab
    debug_info: bool
    static: bool
    interpreter: str | None
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    dangerous: tuple[str, ...]  # imported functions listed in hardening.yaml

    def weaknesses(self) -> list[str]:
        """Short labels for missing protections, for summaries."""
        weak = []
        if not self.nx:
            weak.append("no NX (executable stack)")
        if self.pie == "no":
            weak.append("not PIE")
        if self.relro != "full" and self.elf_type != "REL":
            weak.append(f"RELRO {self.relro}")
        if not self.canary:
            weak.append("no stack canary")
        if self.fortifiable and not self.fortify:
            weak.append("no FORTIFY_SOURCE")
        if not self.stripped:
            weak.append("symbols not stripped")
        if self.debug_info:
            weak.append("debug information present")
        if self.rpath:
            weak.append("RPATH set")
        if self.runpath:
            weak.append("RUNPATH set")
        return weak


def is_elf(head: bytes) -> bool:
    return head[:4] == ELF_MAGIC


def analyse_elf(path: Path) -> ElfReport:
    """Hardening facts of the ELF file at ``path``; raises :class:`ElfParseError`."""
    with open(path, "rb") as stream:
        try:
            return _analyse(stream)
        except ELFError as exc:
            raise ElfParseError(f"unparsable ELF: {exc}") from exc
        except Exception as exc:  # hostile or truncated input must never stop a scan
            raise ElfParseError(f"unparsable ELF ({type(exc).__name__}): {exc}") from exc


def _analyse(stream: BinaryIO) -> ElfReport:
    elf = ELFFile(stream)
    header = elf.header
    machine = str(header["e_machine"])
    arch = _ARCH_NAMES.get(machine, machine.removeprefix("EM_").lower())
    little = elf.little_endian
    if arch == "mips" and little:
        arch = "mipsel"
    elf_type = str(header["e_type"]).removeprefix("ET_")

    has_stack = nx = has_relro = False
    interpreter: str | None = None
    has_dynamic = False
    for segment in elf.iter_segments():
        ptype = segment["p_type"]
        if ptype == "PT_GNU_STACK":
            has_stack = True
            nx = not segment["p_flags"] & _PF_X
        elif ptype == "PT_GNU_RELRO":
            has_relro = True
        elif isinstance(segment, InterpSegment):
            interpreter = segment.get_interp_name()
        elif ptype == "PT_DYNAMIC":
            has_dynamic = True
    nx = nx and has_stack

    tags = _dynamic_tags(elf)
    flags = _int_tag(tags, "DT_FLAGS")
    flags_1 = _int_tag(tags, "DT_FLAGS_1")
    bind_now = "DT_BIND_NOW" in tags or bool(flags & _DF_BIND_NOW) or bool(flags_1 & _DF_1_NOW)
    relro: Literal["full", "partial", "no"] = (
        ("full" if bind_now else "partial") if has_relro else "no"
    )

    pie: Literal["yes", "no", "dso", "rel"]
    if elf_type == "EXEC":
        pie = "no"
    elif elf_type == "DYN":
        pie = "yes" if ("DT_DEBUG" in tags or flags_1 & _DF_1_PIE) else "dso"
    else:
        pie = "rel"

    section_names = {section.name for section in elf.iter_sections()}
    all_names, imported = _symbol_names(elf, stream)
    data = hardening_data()
    canary = any(name in all_names for name in data.canary_symbols)
    fortified = sorted(n for n in all_names if n.startswith("__") and n.endswith("_chk"))
    fortifiable = sorted(set(data.fortifiable_functions) & imported)
    dangerous = sorted(set(data.dangerous_functions) & imported)

    return ElfReport(
        arch=arch,
        bits=elf.elfclass,
        endian="little" if little else "big",
        elf_type=elf_type,
        pie=pie,
        nx=nx,
        relro=relro,
        canary=canary,
        fortify=bool(fortified),
        fortified=tuple(fortified),
        fortifiable=tuple(fortifiable),
        stripped=".symtab" not in section_names,
        debug_info=bool({".debug_info", ".debug_line", ".zdebug_info"} & section_names),
        static=interpreter is None and not has_dynamic and elf_type == "EXEC",
        interpreter=interpreter,
        soname=_first(tags.get("DT_SONAME")),
        needed=tuple(tags.get("DT_NEEDED", [])),
        rpath=tuple(_split_paths(tags.get("DT_RPATH"))),
        runpath=tuple(_split_paths(tags.get("DT_RUNPATH"))),
        dangerous=tuple(dangerous),
    )


def _dynamic_tags(elf: ELFFile) -> dict[str, list[str]]:
    """Dynamic tags by name; string tags hold their text, others their value in hex."""
    tags: dict[str, list[str]] = {}
    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        strings = elf.get_section(section["sh_link"])
        if not isinstance(strings, StringTableSection):
            raise ElfParseError("dynamic section does not link to a string table")
        for tag in section.iter_tags():
            name = str(tag.entry.d_tag)
            if name == "DT_NULL":
                break
            value = tag.entry.d_val
            if name in _STRING_TAGS:
                tags.setdefault(name, []).append(str(strings.get_string(value)))
            else:
                tags.setdefault(name, []).append(hex(value))
        break
    return tags


def _int_tag(tags: dict[str, list[str]], name: str) -> int:
    values = tags.get(name)
    return int(values[0], 16) if values else 0


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _split_paths(values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in value.split(":") if part]


def _symbol_names(elf: ELFFile, stream: BinaryIO) -> tuple[set[str], set[str]]:
    """(all symbol names, names of undefined = imported symbols) from .dynsym and .symtab."""
    names: set[str] = set()
    imported: set[str] = set()
    is64 = elf.elfclass == 64
    order = "<" if elf.little_endian else ">"
    fmt = order + ("IBBHQQ" if is64 else "IIIBBH")
    entry = struct.calcsize(fmt)
    for section in elf.iter_sections():
        if section["sh_type"] not in ("SHT_SYMTAB", "SHT_DYNSYM") or section["sh_size"] == 0:
            continue
        strtab = elf.get_section(section["sh_link"])
        stream.seek(strtab["sh_offset"])
        strings = stream.read(strtab["sh_size"])
        stream.seek(section["sh_offset"])
        raw = stream.read(section["sh_size"] - section["sh_size"] % entry)
        dynamic = section["sh_type"] == "SHT_DYNSYM"
        for fields in struct.iter_unpack(fmt, raw):
            if is64:
                name_off, _info, _other, shndx = fields[0], fields[1], fields[2], fields[3]
            else:
                name_off, _info, _other, shndx = fields[0], fields[3], fields[4], fields[5]
            if name_off == 0 or name_off >= len(strings):
                continue
            end = strings.find(b"\x00", name_off)
            name = strings[name_off : end if end >= 0 else None].decode("latin-1")
            names.add(name)
            if dynamic and shndx == 0:
                imported.add(name.split("@", 1)[0])
    return names, imported
