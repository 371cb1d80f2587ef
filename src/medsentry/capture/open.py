"""Open a capture file by its magic number (never by its extension)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from medsentry.capture.batch import PacketBatch, check_linktypes
from medsentry.capture.pcap import PCAP_MAGICS, PcapReader
from medsentry.capture.pcapng import PcapngReader
from medsentry.capture.stream import ByteSource
from medsentry.errors import CaptureError

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


class CaptureReader(Protocol):
    source: ByteSource
    packets: int

    def batches(self) -> Iterator[PacketBatch]: ...


def sniff_format(head: bytes) -> str | None:
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    return None


def open_capture(path: str | Path, chunk_size: int = 16 << 20) -> CaptureReader:
    """A reader for a pcap or pcapng file, gzip-compressed or not."""
    source = ByteSource(path)
    try:
        head = source.peek(4)
        kind = sniff_format(head)
        if kind is None:
            raise CaptureError(
                source.name,
                0,
                "not a pcap or pcapng capture (unknown magic number"
                + (", gzip-compressed" if source.compressed else "")
                + ")",
            )
        if kind == "pcap":
            reader: CaptureReader = PcapReader(source, chunk_size)
            check_linktypes(source.name, [reader.linktype])  # type: ignore[attr-defined]
            return reader
        return PcapngReader(source, chunk_size)
    except BaseException:
        source.close()
        raise
