"""Receiving uploads safely: size limits while streaming, type sniffing by content,
decompression with bomb guards, all inside a private temporary folder.

Nothing trusts the client's file name or Content-Type: the first bytes decide what a
file is, and a rejected upload is deleted at once with a message saying what to send.
"""

from __future__ import annotations

import bz2
import lzma
import os
import shutil
import tempfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from medsentry.errors import InputError

CHUNK = 1 << 20
PCAP_MAGICS = (
    b"\xd4\xc3\xb2\xa1",  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4",  # big-endian, microseconds
    b"\x4d\x3c\xb2\xa1",  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d",  # big-endian, nanoseconds
)
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
REFUSED_CONTAINERS = {
    b"PK\x03\x04": "a zip archive",
    b"\x28\xb5\x2f\xfd": "zstd-compressed data",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"Rar!\x1a\x07": "a RAR archive",
}


class UploadKind(StrEnum):
    CAPTURE = "capture"
    DOCUMENT = "document"  # SBOMs: JSON, XML or SPDX tag-value text
    ADVISORY = "advisory"  # advisory data: JSON, or CSV text (KEV catalog, EPSS scores)


class UploadRejected(InputError):
    """An upload refused, with the HTTP status that says why (413, 415, 400)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int
    max_expanded_bytes: int
    max_ratio: int


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """An accepted upload: ``path`` is the (decompressed) file to process, inside
    ``folder``, which the caller removes with :meth:`discard` when done."""

    folder: Path
    path: Path
    filename: str
    received_bytes: int
    size: int
    format: str

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def safe_name(name: str | None, fallback: str) -> str:
    """A display name from the client's file name: last path part, printable, short."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in base if ch.isprintable() and ch not in "<>\"'`")[:120].strip()
    return kept or fallback


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def new_folder(work_dir: Path) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix="upload-", dir=work_dir))


async def receive(
    chunks: AsyncIterator[bytes],
    declared_length: int | None,
    work_dir: Path,
    limits: UploadLimits,
    what: str,
) -> tuple[Path, Path, int]:
    """Stream the body into a new private folder; returns (folder, file, size)."""
    if declared_length is not None and declared_length > limits.max_bytes:
        raise UploadRejected(
            413, f"the {what} is larger than the {_mib(limits.max_bytes)} upload limit"
        )
    folder = new_folder(work_dir)
    target = folder / "upload.bin"
    size = 0
    try:
        with target.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limits.max_bytes:
                    raise UploadRejected(
                        413, f"the {what} is larger than the {_mib(limits.max_bytes)} upload limit"
                    )
                out.write(chunk)
        if size == 0:
            raise UploadRejected(400, f"the upload is empty: send the {what} file as the body")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, target, size


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def needs_input(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _Gzip:
    """zlib's gzip reader with the bz2/lzma interface (``needs_input``, ``max_length``)."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(wbits=47)
        self._pending = b""

    @property
    def eof(self) -> bool:
        return self._z.eof

    @property
    def unused_data(self) -> bytes:
        return self._z.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._pending

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        self._pending += data
        out = self._z.decompress(self._pending, max(max_length, 0))
        self._pending = self._z.unconsumed_tail
        return out


_DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    "gzip": _Gzip,
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}


def compression_of(head: bytes) -> str | None:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return None


def expand(source: Path, target: Path, method: str, limits: UploadLimits) -> int:
    """Decompress ``source`` into ``target``, refusing bombs: output beyond the absolute
    limit, or beyond ``max_ratio`` times the input, stops at once. Returns the output size.
    Concatenated members (``cat a.gz b.gz``) are read one after the other."""
    make = _DECOMPRESSORS[method]
    decompressor = make()
    consumed = produced = 0
    with source.open("rb") as src, target.open("wb") as out:

        def read() -> bytes:
            nonlocal consumed
            data = src.read(CHUNK)
            consumed += len(data)
            return data

        pending = b""
        while True:
            if decompressor.eof:
                pending = decompressor.unused_data + pending
                while not pending.strip(b"\x00"):  # nothing, or padding, after a member
                    pending = read()
                    if not pending:
                        return produced
                decompressor = make()
            if not pending and decompressor.needs_input:
                pending = read()
                if not pending:
                    raise UploadRejected(400, f"the {method} data is truncated")
            try:
                piece = decompressor.decompress(pending, CHUNK)
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
                raise UploadRejected(400, f"the {method} data is corrupt: {exc}") from None
            pending = b""
            produced += len(piece)
            if produced > limits.max_expanded_bytes:
                raise UploadRejected(
                    413,
                    f"the file expands beyond {_mib(limits.max_expanded_bytes)}; "
                    "upload it uncompressed or split it",
                )
            if produced > CHUNK and produced > limits.max_ratio * max(consumed, 1):
                raise UploadRejected(
                    413,
                    f"the file expands more than {limits.max_ratio} times its size; "
                    "this looks like a compression bomb and was refused",
                )
            out.write(piece)


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def capture_format(head: bytes) -> str | None:
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    return None


def _text_sample(head: bytes) -> str | None:
    """The first bytes as UTF-8 text (BOM and leading space removed), None if binary."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    try:
        sample = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(text) - 4:  # a character cut by the sample's end is fine
            return None
        sample = text[: exc.start].decode("utf-8")
    return None if "\x00" in sample else sample


def document_format(head: bytes) -> str | None:
    sample = _text_sample(head)
    if sample is None:
        return None
    if sample.startswith(("{", "[")):
        return "json"
    if sample.startswith("<"):
        return "xml"
    if "SPDXVersion:" in sample:
        return "spdx-tag-value"
    return None


def advisory_format(head: bytes) -> str | None:
    sample = _text_sample(head)
    if sample is None:
        return None
    if sample.startswith(("{", "[")):
        return "json"
    first = next((line for line in sample.splitlines() if not line.startswith("#")), "")
    return "csv" if "," in first else None


_SNIFFERS = {
    UploadKind.CAPTURE: capture_format,
    UploadKind.DOCUMENT: document_format,
    UploadKind.ADVISORY: advisory_format,
}


def _refused_container(head: bytes) -> str | None:
    for magic, name in REFUSED_CONTAINERS.items():
        if head.startswith(magic):
            return name
    return None


def inspect(
    folder: Path, received: Path, size: int, kind: UploadKind, limits: UploadLimits, name: str
) -> StoredUpload:
    """Decide what ``received`` is by its content; decompress it if needed. Raises
    :class:`UploadRejected` (and removes ``folder``) when it is not what ``kind`` accepts."""
    try:
        head = _head(received)
        container = _refused_container(head)
        if container is not None:
            raise UploadRejected(
                415, f"this is {container}; upload the file itself, or gzip/bzip2/xz-compress it"
            )
        method = compression_of(head)
        path, expanded = received, size
        if method is not None:
            path = folder / "upload.data"
            expanded = expand(received, path, method, limits)
            received.unlink()
            head = _head(path)
        found = _SNIFFERS[kind](head)
        if found is None:
            raise UploadRejected(415, _wrong_type(kind, head))
        fmt = found if method is None else f"{found}+{method}"
        if kind is UploadKind.CAPTURE:
            os.replace(path, folder / f"capture.{found}")
            path = folder / f"capture.{found}"
        return StoredUpload(folder, path, name, size, expanded, fmt)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _wrong_type(kind: UploadKind, head: bytes) -> str:
    start = head[:8].hex(" ") or "nothing"
    if kind is UploadKind.CAPTURE:
        return (
            f"this is not a pcap or pcapng capture (it starts with {start}); save it from "
            "Wireshark or tcpdump as .pcap or .pcapng, optionally gzip-compressed"
        )
    if kind is UploadKind.ADVISORY:
        return (
            f"this is not a JSON or CSV document (it starts with {start}); upload a CSAF, "
            "OSV, CVE JSON 5 or NVD advisory file, the KEV catalog or EPSS scores"
        )
    return (
        f"this is not a JSON, XML or SPDX tag-value document (it starts with {start}); "
        "upload a CycloneDX or SPDX SBOM"
    )
