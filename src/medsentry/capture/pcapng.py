"""pcapng files: sections, several interfaces, EPB/SPB/OPB packets, ``if_tsresol``.

Blocks are framed with a tight loop over block lengths; Enhanced Packet Blocks (the
bulk of any file) are then decoded with numpy in one pass per chunk. Other blocks are
rare and handled one by one.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from medsentry.capture.batch import READ_SLACK, Buffer, PacketBatch
from medsentry.capture.stream import ByteSource
from medsentry.errors import CaptureError

SHB = 0x0A0D0D0A
IDB = 0x00000001
OPB = 0x00000002  # obsolete Packet Block
SPB = 0x00000003
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_BLOCK = 16 << 20

OPT_END = 0
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


@dataclass(slots=True)
class Interface:
    linktype: int
    snaplen: int
    tick: float = 1e-6  # seconds per timestamp unit
    ts_offset: int = 0  # seconds added to every timestamp


def parse_options(body: Buffer, order: str) -> dict[int, bytes]:
    """Options of a block body (code -> first value), tolerant of a truncated list."""
    options: dict[int, bytes] = {}
    pos = 0
    head = struct.Struct(order + "HH")
    while pos + 4 <= len(body):
        code, length = head.unpack_from(body, pos)
        if code == OPT_END:
            break
        value = bytes(body[pos + 4 : pos + 4 + length])
        options.setdefault(code, value)
        pos += 4 + ((length + 3) & ~3)
    return options


def interface_from_idb(body: Buffer, order: str) -> Interface:
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
    iface = Interface(linktype=linktype, snaplen=snaplen)
    options = parse_options(body[8:], order)
    resol = options.get(OPT_IF_TSRESOL)
    if resol:
        value = resol[0]
        iface.tick = 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
    offset = options.get(OPT_IF_TSOFFSET)
    if offset and len(offset) >= 8:
        iface.ts_offset = struct.unpack_from(order + "q", offset)[0]
    return iface


class PcapngReader:
    """Reads a pcapng stream in batches of packets."""

    def __init__(self, source: ByteSource, chunk_size: int = 16 << 20) -> None:
        self.source = source
        self.chunk_size = chunk_size
        self.order = "<"
        self.interfaces: list[Interface] = []
        self.packets = 0
        self.last_ts = 0.0  # for Simple Packet Blocks, which carry no timestamp

    def _section_order(self, buf: Buffer, pos: int) -> str:
        magic = buf[pos + 8 : pos + 12]
        if magic == struct.pack("<I", BYTE_ORDER_MAGIC):
            return "<"
        if magic == struct.pack(">I", BYTE_ORDER_MAGIC):
            return ">"
        raise CaptureError(self.source.name, self.source_base + pos, "bad pcapng byte-order magic")

    def batches(self) -> Iterator[PacketBatch]:
        carry = b""
        self.source_base = 0  # stream offset of carry[0]
        while True:
            data, size = self.source.read_after(carry, self.chunk_size, READ_SLACK)
            chunk = size > len(carry)
            if not size:
                return
            buf = memoryview(data)[:size]
            while True:
                stop, batch, error, new_section = self._frame(buf)
                if batch is not None and len(batch):
                    self.last_ts = float(batch.ts[-1])
                    yield batch
                    self.packets += len(batch)
                if error:
                    raise CaptureError(
                        self.source.name, self.source_base + stop, error, self.packets
                    )
                buf = buf[stop:]
                self.source_base += stop
                if not new_section:
                    break
            carry = bytes(buf)
            if not chunk:
                if carry:
                    raise CaptureError(
                        self.source.name,
                        self.source_base,
                        f"capture ends inside a block ({len(carry)} bytes left over)",
                        self.packets,
                    )
                return

    def _frame(self, buf: Buffer) -> tuple[int, PacketBatch | None, str | None, bool]:
        """Frame complete blocks of ``buf``.

        Returns (stop offset, packets, error, stopped at a new section). Framing stops
        before a new section header so packets are decoded with their own interfaces.
        """
        pos = 0
        end = len(buf)
        epb: array[int] = array("q")
        epb_order: list[tuple[int, str]] = []  # (first EPB index, byte order) per section
        extra: list[tuple[int, float, int, int, int]] = []  # SPB/OPB: (off, ts, cap, wire, lt)
        extra_at: array[int] = array("q")  # position in packet order of each extra packet
        order = self.order
        head = struct.Struct(order + "II")
        error: str | None = None
        packet_order = 0
        new_section = False
        while pos + 12 <= end:
            btype, blen = head.unpack_from(buf, pos)
            if btype == SHB and pos > 0 and (epb or extra):
                new_section = True
                break
            if btype == SHB:
                try:
                    order = self._section_order(buf, pos)
                except CaptureError as exc:
                    error = exc.reason
                    break
                head = struct.Struct(order + "II")
                btype, blen = head.unpack_from(buf, pos)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                error = f"block length {blen} is impossible (corrupt block header)"
                break
            if pos + blen > end:
                break
            if btype == EPB:
                if not epb_order or epb_order[-1][1] != order:
                    epb_order.append((len(epb), order))
                epb.append(pos)
                packet_order += 1
            elif btype == SHB:
                self.order = order
                self.interfaces = []
            elif btype == IDB:
                self.interfaces.append(interface_from_idb(buf[pos + 8 : pos + blen - 4], order))
            elif btype in (SPB, OPB):
                packet = self._simple_packet(buf, pos, blen, btype, order)
                if packet is not None:
                    extra.append(packet)
                    extra_at.append(packet_order)
                    packet_order += 1
            tail = head.unpack_from(buf, pos + blen - 8)[1]
            if tail != blen:
                error = f"block trailer length {tail} does not match header length {blen}"
                break
            pos += blen
        self.order = order
        try:
            batch = self._assemble(buf, epb, epb_order, extra, extra_at)
        except CaptureError as exc:
            return pos, None, exc.reason, False
        return pos, batch, error, new_section

    def _simple_packet(
        self, buf: Buffer, pos: int, blen: int, btype: int, order: str
    ) -> tuple[int, float, int, int, int] | None:
        if not self.interfaces:
            return None
        if btype == SPB:
            iface = self.interfaces[0]
            (wire,) = struct.unpack_from(order + "I", buf, pos + 8)
            cap = min(wire, blen - 16, iface.snaplen or wire)
            return (pos + 12, float("nan"), cap, wire, iface.linktype)
        if_id, _drops, hi, lo, cap, wire = struct.unpack_from(order + "HHIIII", buf, pos + 8)
        if if_id >= len(self.interfaces):
            return None
        iface = self.interfaces[if_id]
        ts = ((hi << 32) | lo) * iface.tick + iface.ts_offset
        return (pos + 28, ts, min(cap, blen - 32), wire, iface.linktype)

    def _assemble(
        self,
        buf: Buffer,
        epb: array[int],
        epb_order: list[tuple[int, str]],
        extra: list[tuple[int, float, int, int, int]],
        extra_at: array[int],
    ) -> PacketBatch | None:
        if not epb and not extra:
            return None
        n = len(epb)
        off = np.frombuffer(epb, dtype=np.int64) if n else np.zeros(0, np.int64)
        iface_id = np.zeros(n, np.int64)
        ticks = np.zeros(n, np.uint64)
        caplen = np.zeros(n, np.int64)
        wirelen = np.zeros(n, np.int64)
        words = np.frombuffer(buf, dtype=np.uint8)
        block_len = np.zeros(n, np.int64)
        bounds = [*(start for start, _ in epb_order), n]
        for (start, order), stop in zip(epb_order, bounds[1:], strict=False):
            sel = off[start:stop]
            u32 = np.dtype(order + "u4")
            # Block length, then the EPB body: interface id, ts high, ts low, captured
            # and original length.
            hdr = words[sel[:, None] + np.arange(4, 28)].copy().view(u32)
            block_len[start:stop] = hdr[:, 0]
            iface_id[start:stop] = hdr[:, 1]
            ticks[start:stop] = (hdr[:, 2].astype(np.uint64) << np.uint64(32)) | hdr[:, 3]
            caplen[start:stop] = hdr[:, 4]
            wirelen[start:stop] = hdr[:, 5]
        if n and int(iface_id.max()) >= len(self.interfaces):
            raise CaptureError(
                self.source.name, 0, "packet refers to an interface that was never described"
            )
        tick = np.array([i.tick for i in self.interfaces] or [1e-6])
        ts_off = np.array([i.ts_offset for i in self.interfaces] or [0], dtype=np.float64)
        lts = np.array([i.linktype for i in self.interfaces] or [0], dtype=np.uint16)
        # Split 64-bit tick counts so float64 keeps sub-microsecond precision.
        ts = (
            (ticks // np.uint64(1_000_000_000)).astype(np.float64) * 1e9 * tick[iface_id]
            + (ticks % np.uint64(1_000_000_000)).astype(np.float64) * tick[iface_id]
            + ts_off[iface_id]
        )
        caplen = np.minimum(caplen, np.maximum(block_len - 32, 0))
        data_off = off + 28
        linktype = lts[iface_id]
        if extra:
            return self._merge_extra(buf, data_off, ts, caplen, wirelen, linktype, extra, extra_at)
        return PacketBatch(
            data=buf,
            ts=ts,
            offset=data_off,
            caplen=caplen.astype(np.int32),
            wirelen=np.maximum(wirelen, caplen).astype(np.int32),
            linktype=linktype,
            first_index=self.packets,
        )

    def _merge_extra(
        self,
        buf: Buffer,
        data_off: np.ndarray,
        ts: np.ndarray,
        caplen: np.ndarray,
        wirelen: np.ndarray,
        linktype: np.ndarray,
        extra: list[tuple[int, float, int, int, int]],
        extra_at: array[int],
    ) -> PacketBatch:
        """Interleave SPB/OPB packets with EPB packets in file order."""
        total = len(data_off) + len(extra)
        is_extra = np.zeros(total, bool)
        is_extra[np.frombuffer(extra_at, dtype=np.int64)] = True
        ex = np.array(extra, dtype=np.float64).reshape(-1, 5)
        out_off = np.empty(total, np.int64)
        out_ts = np.empty(total, np.float64)
        out_cap = np.empty(total, np.int64)
        out_wire = np.empty(total, np.int64)
        out_lt = np.empty(total, np.uint16)
        out_off[~is_extra], out_off[is_extra] = data_off, ex[:, 0].astype(np.int64)
        out_ts[~is_extra], out_ts[is_extra] = ts, ex[:, 1]
        out_cap[~is_extra], out_cap[is_extra] = caplen, ex[:, 2].astype(np.int64)
        out_wire[~is_extra], out_wire[is_extra] = wirelen, ex[:, 3].astype(np.int64)
        out_lt[~is_extra], out_lt[is_extra] = linktype, ex[:, 4].astype(np.uint16)
        # Simple Packet Blocks carry no timestamp: reuse the previous packet's.
        nan = np.isnan(out_ts)
        if nan.any():
            idx = np.where(~nan, np.arange(total), 0)
            np.maximum.accumulate(idx, out=idx)
            out_ts = np.where(nan, out_ts[idx], out_ts)
            out_ts = np.nan_to_num(out_ts, nan=self.last_ts)
        return PacketBatch(
            data=buf,
            ts=out_ts,
            offset=out_off,
            caplen=out_cap.astype(np.int32),
            wirelen=np.maximum(out_wire, out_cap).astype(np.int32),
            linktype=out_lt,
            first_index=self.packets,
        )
