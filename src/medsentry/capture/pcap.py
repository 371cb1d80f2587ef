"""Classic libpcap files: micro- or nanosecond timestamps, either byte order.

Records are framed with a tight loop that reads only the captured length; every other
header field is gathered afterwards with numpy over all record offsets at once.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator

import numpy as np

from medsentry.capture.batch import READ_SLACK, Buffer, PacketBatch
from medsentry.capture.stream import ByteSource
from medsentry.errors import CaptureError

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
GLOBAL_HEADER = 24
RECORD_HEADER = 16
# Larger records than this are corruption, not packets (pcap snaplen is at most 256 KiB
# in practice; we leave room for jumbo/TSO captures).
MAX_RECORD = 1 << 20


def frame_records(
    buf: Buffer, start: int, end: int, order: str
) -> tuple[array[int], int, str | None]:
    """Offsets of the complete records in ``buf[start:end]``.

    Returns (record offsets, offset of the first incomplete byte, error or None).
    """
    caplen_at = struct.Struct(order + "I").unpack_from
    offsets: array[int] = array("q")
    append = offsets.append
    pos = start
    limit = end - RECORD_HEADER
    while pos <= limit:
        incl = caplen_at(buf, pos + 8)[0]
        if incl > MAX_RECORD:
            return offsets, pos, f"record length {incl} is impossible (corrupt record header)"
        nxt = pos + RECORD_HEADER + incl
        if nxt > end:
            break
        append(pos)
        pos = nxt
    return offsets, pos, None


def batch_from_records(
    buf: Buffer, offsets: array[int], order: str, tick: float, linktype: int, first_index: int
) -> PacketBatch:
    """Gather the header fields of framed records into a batch."""
    rec = np.frombuffer(offsets, dtype=np.int64) if len(offsets) else np.zeros(0, np.int64)
    u32 = np.dtype(order + "u4")
    words = np.frombuffer(buf, dtype=np.uint8)
    # Each header is 16 bytes: gather them as a (n, 16) matrix, then view as 4 uint32.
    hdr = words[rec[:, None] + np.arange(RECORD_HEADER)].copy().view(u32)
    seconds = hdr[:, 0].astype(np.float64)
    frac = hdr[:, 1].astype(np.float64)
    caplen = hdr[:, 2].astype(np.int32)
    wirelen = np.maximum(hdr[:, 3].astype(np.int64), caplen).astype(np.int32)
    return PacketBatch(
        data=buf,
        ts=seconds + frac * tick,
        offset=rec + RECORD_HEADER,
        caplen=caplen,
        wirelen=wirelen,
        linktype=np.full(len(rec), linktype, np.uint16),
        first_index=first_index,
    )


class PcapReader:
    """Reads a classic pcap stream in batches of complete records."""

    def __init__(self, source: ByteSource, chunk_size: int = 16 << 20) -> None:
        self.source = source
        self.chunk_size = chunk_size
        header = source.read_exact(GLOBAL_HEADER)
        if len(header) < GLOBAL_HEADER:
            raise CaptureError(source.name, len(header), "pcap global header is truncated")
        magic = header[:4]
        if magic not in PCAP_MAGICS:
            raise CaptureError(source.name, 0, "not a pcap file (bad magic number)")
        self.order, self.tick = PCAP_MAGICS[magic]
        _, _, _, _, self.snaplen, network = struct.unpack(self.order + "HHiIII", header[4:])
        # The upper bits of the link-type field carry FCS information (pcap spec).
        self.linktype = network & 0x0FFFFFFF
        self.packets = 0

    def batches(self) -> Iterator[PacketBatch]:
        carry = b""
        base = GLOBAL_HEADER  # file offset of carry[0]
        while True:
            buf, size = self.source.read_after(carry, self.chunk_size, READ_SLACK)
            chunk = size > len(carry)
            if not size:
                return
            offsets, stop, error = frame_records(buf, 0, size, self.order)
            if offsets:
                yield batch_from_records(
                    buf, offsets, self.order, self.tick, self.linktype, self.packets
                )
                self.packets += len(offsets)
            if error:
                raise CaptureError(self.source.name, base + stop, error, self.packets)
            carry = bytes(buf[stop:size])
            base += stop
            if not chunk:
                if carry:
                    raise CaptureError(
                        self.source.name,
                        base,
                        f"capture ends inside a packet record ({len(carry)} bytes left over)",
                        self.packets,
                    )
                return
