"""Recursive, bounded, link-safe unpacking of firmware images, archives and build folders.

Every container is extracted into its own numbered folder under a private work directory.
Archive members are written by our own code (never ``extractall``): names are normalised
and checked first, links are recorded but never created, and every byte written is charged
to one budget so nested archives cannot add up to a bomb. squashfs is delegated to
``unsquashfs`` after listing its contents against the same limits.
"""

from __future__ import annotations

import bz2
import itertools
import lzma
import mmap
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from medsentry.errors import InputError
from medsentry.protect import formats
from medsentry.protect.archives import ArchiveFormatError, Member, iter_ar, iter_cpio
from medsentry.protect.errors import ArchiveRefused, DecompressionBombError
from medsentry.protect.safe_fs import (
    CHUNK,
    Budget,
    UnpackLimits,
    copy_limited,
    ensure_dir,
    open_new_file,
    safe_member_path,
)

__all__ = ["Link", "NotOpened", "UnpackLimits", "Unpacked", "UnpackedFile", "Unpacker"]

_CARVE_MIN_BYTES = 64 * 1024
_MAX_CARVED_PER_FILE = 64
_UNSQUASHFS_TIMEOUT_S = 600


@dataclass(frozen=True)
class UnpackedFile:
    """A regular file ready to analyse."""

    path: Path  # where to read it on disk
    location: str  # where it is in the input, containers joined by "!"
    size: int
    mode: int  # permission bits as stored in the image
    depth: int


@dataclass(frozen=True)
class Link:
    location: str
    target: str
    kind: str  # "symlink" or "hardlink"


@dataclass(frozen=True)
class NotOpened:
    """A container that was not (fully) opened, and why."""

    location: str
    format: str
    reason: str
    refused: bool  # True when refused for safety, False when unreadable or unsupported


@dataclass
class Unpacked:
    files: list[UnpackedFile] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    containers: list[tuple[str, str]] = field(default_factory=list)  # (location, format)
    not_opened: list[NotOpened] = field(default_factory=list)
    bytes_unpacked: int = 0
    special_files: int = 0  # devices, fifos, sockets: skipped


class _Unreadable(Exception):
    """A container could not be parsed; the file is still analysed as raw bytes."""


_STREAMS: dict[str, tuple[tuple[str, ...], bytes]] = {
    "gzip": ((".gz", ".tgz", ".gzip"), b"\x1f\x8b"),
    "xz": ((".xz", ".txz"), b"\xfd7zXZ\x00"),
    "bzip2": ((".bz2", ".tbz2", ".tbz"), b"BZh"),
    "lzma": ((".lzma",), b"\x5d"),
}


class _Stream:
    """One compressed stream, decompressed in bounded pieces (a bomb never fills memory)."""

    def __init__(self, fmt: str) -> None:
        self.fresh = True  # nothing fed yet
        self._zlib = zlib.decompressobj(31) if fmt == "gzip" else None
        self._other: lzma.LZMADecompressor | bz2.BZ2Decompressor | None = None
        if fmt == "xz":
            self._other = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        elif fmt == "lzma":
            self._other = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
        elif fmt == "bzip2":
            self._other = bz2.BZ2Decompressor()

    @property
    def eof(self) -> bool:
        dec = self._zlib if self._zlib is not None else self._other
        return bool(dec is not None and dec.eof)

    @property
    def unused_data(self) -> bytes:
        dec = self._zlib if self._zlib is not None else self._other
        return dec.unused_data if dec is not None else b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        self.fresh = False
        if self._zlib is not None:
            while not self._zlib.eof:
                out = self._zlib.decompress(data, CHUNK)
                data = self._zlib.unconsumed_tail
                if out:
                    yield out
                if not data and len(out) < CHUNK:
                    return
        elif self._other is not None:
            out = self._other.decompress(data, CHUNK)
            while True:
                if out:
                    yield out
                if self._other.eof or self._other.needs_input:
                    return
                out = self._other.decompress(b"", CHUNK)


_LS_LINE = re.compile(r"^(?P<perm>\S{10})\s+\S+\s+(?P<size>\d+|\d+,\s*\d+)\s+\S+\s+\S+\s+")


class Unpacker:
    """Unpacks one input into ``workdir``; call :meth:`unpack` once."""

    def __init__(self, workdir: Path, limits: UnpackLimits | None = None) -> None:
        self.workdir = workdir
        self.limits = limits or UnpackLimits()
        self.budget = Budget(self.limits)
        self.result = Unpacked()
        self._seq = 0

    # -- entry point -------------------------------------------------------------------

    def unpack(self, source: Path) -> Unpacked:
        """Unpack a file or walk a folder. A refused top-level archive raises."""
        if source.is_symlink() and not source.exists():
            raise InputError(f"{source}: broken link; point at the real file or folder")
        if source.is_dir():
            self._walk(source, "", depth=0, modes=None, owned=False)
        elif source.is_file():
            mode = stat.S_IMODE(source.stat().st_mode)
            self._handle(source, source.name, depth=0, mode=mode, owned=False, top=True)
        else:
            raise InputError(f"{source}: no such file or folder")
        self.result.bytes_unpacked = self.budget.total_bytes
        return self.result

    # -- dispatch ----------------------------------------------------------------------

    def _handle(
        self, path: Path, location: str, depth: int, mode: int, owned: bool, top: bool = False
    ) -> None:
        head = formats.read_head(path)
        fmt = formats.sniff(head, path.name)
        size = path.stat().st_size
        if fmt is None:
            label = formats.recognised_only(head)
            if label:
                self._not_opened(location, label, "recognised but no extractor is available")
            self._add_file(path, location, size, mode, depth)
            if (
                size >= _CARVE_MIN_BYTES
                and not head.startswith(b"\x7fELF")
                and depth < (self.limits.max_depth)
            ):
                self._carve(path, 0, location, depth)
            return
        if depth >= self.limits.max_depth:
            self._not_opened(location, fmt, f"nested deeper than {self.limits.max_depth} levels")
            self._add_file(path, location, size, mode, depth)
            return
        dest = self._new_dir(fmt)
        try:
            self._open_container(fmt, path, dest, location, depth, mode)
        except ArchiveRefused as exc:
            shutil.rmtree(dest, ignore_errors=True)
            if top:
                raise
            self._not_opened(location, fmt, exc.reason, refused=True)
            return
        except _Unreadable as exc:
            # Keep what was extracted before the damage and analyse the raw bytes too.
            self._not_opened(location, fmt, str(exc))
            self._add_file(path, location, size, mode, depth)
            self._walk(dest, location + "!", depth + 1, modes=None, owned=True)
            return
        self.result.containers.append((location, fmt))
        if owned:
            path.unlink(missing_ok=True)  # an intermediate file of ours, now unpacked

    def _open_container(
        self, fmt: str, path: Path, dest: Path, location: str, depth: int, mode: int
    ) -> None:
        modes: dict[str, int] | None = None
        try:
            if fmt in _STREAMS:
                output = self._decompress(fmt, path, dest, location)
            elif fmt == "tar":
                modes = self._extract_tar(path, dest, location)
            elif fmt == "zip":
                modes = self._extract_zip(path, dest, location)
            elif fmt in ("cpio", "ar"):
                modes = self._extract_members(fmt, path, dest, location)
            elif fmt == "squashfs":
                self._unsquash(path, 0, dest, location, depth)
                return
            elif fmt == "uimage":
                self._extract_uimage(path, 0, dest, location, depth)
                return
            else:  # pragma: no cover - sniff only returns the formats above
                raise _Unreadable(f"no extractor for {fmt}")
        except (
            OSError,
            EOFError,
            zlib.error,
            lzma.LZMAError,
            tarfile.TarError,
            zipfile.BadZipFile,
            ArchiveFormatError,
            NotImplementedError,
            RuntimeError,
        ) as exc:
            raise _Unreadable(f"cannot read {fmt}: {exc}") from exc
        if fmt in _STREAMS:
            # A decompressed stream is the same file: it keeps the location and the mode.
            self._handle(output, location, depth + 1, mode, owned=True)
        else:
            self._walk(dest, location + "!", depth + 1, modes=modes, owned=True)

    # -- bookkeeping -------------------------------------------------------------------

    def _new_dir(self, fmt: str) -> Path:
        self._seq += 1
        path = self.workdir / f"{self._seq:05d}-{fmt}"
        path.mkdir(mode=0o700)
        return path

    def _add_file(self, path: Path, location: str, size: int, mode: int, depth: int) -> None:
        self.result.files.append(UnpackedFile(path, location, size, mode, depth))

    def _not_opened(self, location: str, fmt: str, reason: str, refused: bool = False) -> None:
        self.result.not_opened.append(NotOpened(location, fmt, reason, refused))

    def _walk(
        self, root: Path, prefix: str, depth: int, modes: dict[str, int] | None, owned: bool
    ) -> None:
        """Visit every entry under ``root`` without following links."""
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            base = Path(dirpath)
            for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
                full = base / name
                rel = full.relative_to(root).as_posix()
                location = f"{prefix}/{rel}" if prefix else rel
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    self.result.links.append(Link(location, os.readlink(full), "symlink"))
                elif stat.S_ISREG(st.st_mode):
                    mode = modes.get(rel, 0o644) if modes is not None else stat.S_IMODE(st.st_mode)
                    self._handle(full, location, depth, mode, owned)
                else:
                    self.result.special_files += 1

    # -- compressed streams ------------------------------------------------------------

    def _decompress(self, fmt: str, path: Path, dest: Path, location: str) -> Path:
        suffixes, magic = _STREAMS[fmt]
        name = path.name
        out_name = name + ".out"
        for suffix in suffixes:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                out_name = name[: -len(suffix)] + (".tar" if suffix.startswith(".t") else "")
                break
        self.budget.add_file(location)
        consumed = written = 0
        stream: _Stream | None = _Stream(fmt)
        with open(path, "rb") as src, open_new_file(dest, out_name) as out:
            while stream is not None:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                consumed += len(chunk)
                while chunk and stream is not None:
                    for data in stream.feed(chunk):
                        written += len(data)
                        self.budget.add_bytes(len(data), location)
                        self.budget.check_ratio(written, consumed, location)
                        out.write(data)
                    if not stream.eof:
                        break
                    chunk = stream.unused_data
                    # Concatenated members continue; anything else is padding after the stream.
                    more = fmt != "lzma" and chunk.startswith(magic)
                    stream = _Stream(fmt) if more else None
        if stream is not None and not stream.eof and (written == 0 or not stream.fresh):
            raise _Unreadable(f"{fmt} stream is truncated or corrupt")
        return dest / out_name

    # -- tar and zip -------------------------------------------------------------------

    def _extract_tar(self, path: Path, dest: Path, location: str) -> dict[str, int]:
        modes: dict[str, int] = {}
        with tarfile.open(path, mode="r:") as archive:
            members = archive.getmembers()
            # Validate every name and the declared size before writing a single byte.
            names = [safe_member_path(m.name, location) for m in members]
            declared = sum(m.size for m in members if m.isreg())
            self._check_declared(declared, location)
            for member, rel in zip(members, names, strict=True):
                if not rel:
                    continue
                where = f"{location}!/{rel}"
                if member.isdir():
                    ensure_dir(dest, rel)
                elif member.isreg():
                    self.budget.add_file(location)
                    src = archive.extractfile(member)
                    if src is None:  # pragma: no cover - regular members always have data
                        continue
                    copy_limited(src, dest, rel, self.budget, location)
                    modes[rel] = member.mode & 0o7777
                elif member.issym():
                    self.result.links.append(Link(where, member.linkname, "symlink"))
                elif member.islnk():
                    self.result.links.append(Link(where, member.linkname, "hardlink"))
                else:
                    self.result.special_files += 1
        return modes

    def _extract_zip(self, path: Path, dest: Path, location: str) -> dict[str, int]:
        modes: dict[str, int] = {}
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [safe_member_path(i.filename, location) for i in infos]
            self._check_zip_bomb(infos, location)
            for info, rel in zip(infos, names, strict=True):
                if not rel:
                    continue
                unix_mode = info.external_attr >> 16 if info.create_system == 3 else 0
                if info.is_dir():
                    ensure_dir(dest, rel)
                    continue
                if info.flag_bits & 0x1:
                    self._not_opened(f"{location}!/{rel}", "zip", "encrypted member")
                    continue
                if stat.S_ISLNK(unix_mode):
                    target = archive.read(info)[:4096].decode("utf-8", "replace")
                    self.result.links.append(Link(f"{location}!/{rel}", target, "symlink"))
                    continue
                self.budget.add_file(location)
                with archive.open(info) as src:
                    copy_limited(src, dest, rel, self.budget, location, consumed=info.compress_size)
                modes[rel] = (unix_mode & 0o7777) or 0o644
        return modes

    def _check_declared(self, declared: int, location: str) -> None:
        remaining = self.limits.max_total_bytes - self.budget.total_bytes
        if declared > remaining:
            raise DecompressionBombError(
                location,
                f"its members declare {declared} bytes, more than the {remaining} bytes left "
                "under the size limit; this looks like a decompression bomb (raise --max-size-mb "
                "if the image is legitimately this large)",
            )

    def _check_zip_bomb(self, infos: list[zipfile.ZipInfo], location: str) -> None:
        self._check_declared(sum(i.file_size for i in infos), location)
        for info in infos:
            self.budget.check_ratio(info.file_size, max(info.compress_size, 1), location)
        # Members sharing compressed data ("overlapping" bombs) expand without a high ratio.
        spans = sorted((i.header_offset, i.header_offset + i.compress_size) for i in infos)
        for (_, end), (next_start, _) in itertools.pairwise(spans):
            if next_start < end:
                raise DecompressionBombError(
                    location,
                    "zip members overlap each other (a non-recursive zip bomb); not unpacked",
                )

    # -- cpio and ar -------------------------------------------------------------------

    def _extract_members(self, fmt: str, path: Path, dest: Path, location: str) -> dict[str, int]:
        reader = iter_cpio if fmt == "cpio" else iter_ar
        with open(path, "rb") as fh:
            members: list[Member] = list(reader(fh))
            names = [safe_member_path(m.name, location) for m in members]
            self._check_declared(sum(m.size for m in members if m.is_file), location)
            modes: dict[str, int] = {}
            for member, rel in zip(members, names, strict=True):
                if not rel:
                    continue
                if member.is_dir:
                    ensure_dir(dest, rel)
                elif member.is_symlink:
                    self.result.links.append(
                        Link(f"{location}!/{rel}", member.link_target, "symlink")
                    )
                elif member.is_file:
                    if member.size == 0 and rel in modes:
                        continue  # cpio hard-link placeholder; the data comes with another name
                    self.budget.add_file(location)
                    fh.seek(member.offset)
                    copy_limited(_Slice(fh, member.size), dest, rel, self.budget, location)
                    modes[rel] = member.mode & 0o7777
                else:
                    self.result.special_files += 1
        return modes

    # -- firmware containers -----------------------------------------------------------

    def _extract_uimage(
        self, path: Path, offset: int, dest: Path, location: str, depth: int
    ) -> None:
        with open(path, "rb") as fh:
            fh.seek(offset)
            header = formats.uimage_header(fh.read(formats.UIMAGE_HEADER), 0)
            if header is None:
                raise _Unreadable("bad U-Boot image header")
            comp = formats.UIMAGE_COMPRESSION.get(header.compression, "unknown")
            suffix = {"gzip": ".gz", "bzip2": ".bz2", "lzma": ".lzma"}.get(comp, ".bin")
            safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", header.name).strip("._") or "payload"
            self.budget.add_file(location)
            try:
                payload = _Slice(fh, header.size)
                copy_limited(payload, dest, safe_name + suffix, self.budget, location)
            except ArchiveFormatError as exc:
                raise _Unreadable(f"U-Boot image payload: {exc}") from exc
        self._walk(dest, location + "!", depth + 1, modes=None, owned=True)
        end = offset + formats.UIMAGE_HEADER + header.size
        if path.stat().st_size - end >= 4096:
            self._carve(path, end, location, depth)

    def _carve(self, path: Path, start: int, location: str, depth: int) -> None:
        """Find squashfs and U-Boot images embedded after ``start`` in a raw blob."""
        size = path.stat().st_size
        found = 0
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as blob:
            pos = start
            while pos < size and found < _MAX_CARVED_PER_FILE:
                hit = _next_magic(blob, pos)
                if hit is None:
                    return
                offset, kind = hit
                if offset == 0 and start == 0:
                    pos = offset + 4  # the whole file would have been sniffed as this format
                    continue
                if kind == "squashfs":
                    used = formats.squashfs_size(blob, offset, size - offset)
                    if used is None:
                        pos = offset + 4
                        continue
                    found += 1
                    self._carved(path, offset, "squashfs", location, depth)
                    pos = offset + used
                else:
                    header = formats.uimage_header(blob, offset)
                    if header is None:
                        pos = offset + 4
                        continue
                    found += 1
                    self._carved(path, offset, "uimage", location, depth)
                    pos = offset + formats.UIMAGE_HEADER + header.size

    def _carved(self, path: Path, offset: int, kind: str, location: str, depth: int) -> None:
        where = f"{location}!{kind}@{offset:#x}"
        if depth + 1 >= self.limits.max_depth:
            self._not_opened(where, kind, f"nested deeper than {self.limits.max_depth} levels")
            return
        dest = self._new_dir(kind)
        try:
            if kind == "squashfs":
                self._unsquash(path, offset, dest, where, depth + 1)
            else:
                self._extract_uimage(path, offset, dest, where, depth + 1)
        except ArchiveRefused as exc:
            shutil.rmtree(dest, ignore_errors=True)
            self._not_opened(where, kind, exc.reason, refused=True)
            return
        except _Unreadable as exc:
            self._not_opened(where, kind, str(exc))
            return
        self.result.containers.append((where, kind))

    def _unsquash(self, path: Path, offset: int, dest: Path, location: str, depth: int) -> None:
        tool = shutil.which("unsquashfs")
        if tool is None:
            raise _Unreadable("unsquashfs is not installed (apt-get install squashfs-tools)")
        base = [tool, "-no-progress", "-no-xattrs", "-processors", "1", "-offset", str(offset)]
        listing = _run([*base, "-lln", str(path)])
        declared = 0
        entries = 0
        for line in listing.splitlines():
            match = _LS_LINE.match(line)
            if not match:
                continue
            entries += 1
            if match["perm"].startswith("-"):
                declared += int(match["size"])
        self._check_declared(declared, location)
        for _ in range(entries):
            self.budget.add_file(location)
        self.budget.add_bytes(declared, location)
        out = dest / "root"
        _run([*base, "-dest", str(out), str(path)], allow_partial=True)
        if not out.is_dir():
            raise _Unreadable("unsquashfs produced nothing")
        self._walk(out, location + "!", depth + 1, modes=None, owned=True)


class _Slice:
    """A bounded read-only view of ``count`` bytes from the current position of a file."""

    def __init__(self, fh: BinaryIO, count: int) -> None:
        self._fh = fh
        self._left = count

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if size < 0 else min(size, self._left)
        data = self._fh.read(want)
        if len(data) < want:
            raise ArchiveFormatError("member data is truncated")
        self._left -= len(data)
        return data


def _next_magic(blob: mmap.mmap, pos: int) -> tuple[int, str] | None:
    hits = []
    for magic in formats.SQUASHFS_MAGICS:
        at = blob.find(magic, pos)
        if at >= 0:
            hits.append((at, "squashfs"))
    at = blob.find(formats.UIMAGE_MAGIC, pos)
    if at >= 0:
        hits.append((at, "uimage"))
    return min(hits) if hits else None


def _run(cmd: list[str], allow_partial: bool = False) -> str:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_UNSQUASHFS_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise _Unreadable(f"{Path(cmd[0]).name} timed out") from exc
    # Exit code 2 means "non-fatal errors" (e.g. a device node it could not create).
    if proc.returncode != 0 and not (allow_partial and proc.returncode == 2):
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise _Unreadable(f"{Path(cmd[0]).name} failed: {message[-1] if message else '?'}")
    return proc.stdout


def make_workdir(parent: Path | None = None) -> Path:
    """A private (0700) folder for one scan's extracted files."""
    return Path(tempfile.mkdtemp(prefix="medsentry-unpack-", dir=parent))
