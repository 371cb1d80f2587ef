"""Writing captures: classic pcap (live capture's ``--write``, benchmarks, tests) and a
minimal pcapng writer for tests of the reader's multi-interface handling."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from medsentry.capture.batch import LINKTYPE_ETHERNET


class PcapWriter:
    """Writes a classic pcap file record by record."""

    def __init__(
        self,
        out: str | Path | BinaryIO,
        linktype: int = LINKTYPE_ETHERNET,
        nanoseconds: bool = False,
        big_endian: bool = False,
        snaplen: int = 262144,
    ) -> None:
        self._own = not hasattr(out, "write")
        self.fh: BinaryIO = open(out, "wb") if self._own else out  # type: ignore[arg-type,assignment]  # noqa: SIM115
        self.order = ">" if big_endian else "<"
        self.nanoseconds = nanoseconds
        magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
        self.fh.write(struct.pack(self.order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        self._rec = struct.Struct(self.order + "IIII")

    def write(self, ts: float, packet: bytes, wirelen: int | None = None) -> None:
        sec = int(ts)
        scale = 1_000_000_000 if self.nanoseconds else 1_000_000
        frac = round((ts - sec) * scale)
        if frac >= scale:
            sec, frac = sec + 1, frac - scale
        self.fh.write(self._rec.pack(sec, frac, len(packet), wirelen or len(packet)))
        self.fh.write(packet)

    def write_all(self, packets: Iterable[tuple[float, bytes]]) -> None:
        for ts, packet in packets:
            self.write(ts, packet)

    def close(self) -> None:
        if self._own:
            self.fh.close()
        else:
            self.fh.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _option(code: int, value: bytes, order: str) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * pad


def _block(btype: int, body: bytes, order: str) -> bytes:
    total = 12 + len(body)
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def pcapng_bytes(
    interfaces: list[tuple[int, int | None]],
    packets: list[tuple[int, float, bytes]],
    big_endian: bool = False,
    simple: list[bytes] | None = None,
) -> bytes:
    """A pcapng section: ``interfaces`` as (linktype, if_tsresol or None), ``packets``
    as (interface id, timestamp, bytes) written as Enhanced Packet Blocks, then any
    ``simple`` packets as Simple Packet Blocks."""
    order = ">" if big_endian else "<"
    out = [_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)]
    resolutions = []
    for linktype, tsresol in interfaces:
        opts = b""
        resol = 6 if tsresol is None else tsresol
        if tsresol is not None:
            opts += _option(9, bytes([tsresol]), order)
        opts += struct.pack(order + "HH", 0, 0) if opts else b""
        out.append(_block(1, struct.pack(order + "HHI", linktype, 0, 65535) + opts, order))
        resolutions.append(2.0 ** -(resol & 0x7F) if resol & 0x80 else 10.0**-resol)
    for if_id, ts, data in packets:
        ticks = round(ts / resolutions[if_id])
        pad = (-len(data)) % 4
        body = struct.pack(
            order + "IIIII", if_id, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
        )
        out.append(_block(6, body + data + b"\x00" * pad, order))
    for data in simple or []:
        pad = (-len(data)) % 4
        out.append(_block(3, struct.pack(order + "I", len(data)) + data + b"\x00" * pad, order))
    return b"".join(out)
