"""A batch of raw packets: one contiguous byte buffer plus numpy columns.

Readers fill batches; the decoder turns a batch into header columns. Keeping the
packet bytes in one buffer (with offsets) lets later stages slice payloads without
copying every packet into its own Python object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medsentry.errors import UnsupportedCaptureError

# Link types (tcpdump.org LINKTYPE_* values) the decoder understands.
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127

Buffer = bytes | bytearray | memoryview

# Zero bytes readers leave after a batch's last packet, so vectorised header reads that
# run past a truncated packet stay inside the buffer (see decode.packets).
READ_SLACK = 512

SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
    }
)

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback (NULL)",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback (LOOP)",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
    LINKTYPE_IEEE802_11: "IEEE 802.11",
    LINKTYPE_IEEE802_11_RADIOTAP: "IEEE 802.11 radiotap",
}


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(linktype, f"link type {linktype}")


def check_linktypes(name: str, linktypes: Iterable[int]) -> None:
    """Refuse a source none of whose link types MedSentry decodes, naming them."""
    kinds = {int(k) for k in linktypes}
    if kinds and not kinds & SUPPORTED_LINKTYPES:
        names = ", ".join(sorted(linktype_name(k) for k in kinds))
        raise UnsupportedCaptureError(
            f"{name}: {names} captures are not supported; capture on a wired interface "
            "(Ethernet, raw IP, loopback or Linux cooked)"
        )


@dataclass(slots=True)
class PacketBatch:
    """Raw packets from one capture source.

    ``data`` holds the captured bytes of every packet back to back (or the raw file
    chunk they were read from); packet ``i`` is ``data[offset[i] : offset[i] + caplen[i]]``.
    """

    data: Buffer
    ts: npt.NDArray[np.float64]  # seconds since the epoch
    offset: npt.NDArray[np.int64]  # start of each packet in ``data``
    caplen: npt.NDArray[np.int32]  # bytes captured
    wirelen: npt.NDArray[np.int32]  # bytes on the wire
    linktype: npt.NDArray[np.uint16]  # LINKTYPE_* of the interface it came from
    first_index: int = 0  # packet number (0-based) of the first packet in the source

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def packet(self, i: int) -> bytes:
        start = int(self.offset[i])
        return bytes(self.data[start : start + int(self.caplen[i])])

    @property
    def nbytes(self) -> int:
        return int(self.wirelen.sum())

    @staticmethod
    def empty() -> PacketBatch:
        return PacketBatch(
            data=b"",
            ts=np.zeros(0, np.float64),
            offset=np.zeros(0, np.int64),
            caplen=np.zeros(0, np.int32),
            wirelen=np.zeros(0, np.int32),
            linktype=np.zeros(0, np.uint16),
        )

    @staticmethod
    def from_packets(
        packets: list[bytes], ts: list[float], linktype: int | list[int] = LINKTYPE_ETHERNET
    ) -> PacketBatch:
        """Build a batch from Python packets (tests, live capture)."""
        lengths = np.fromiter((len(p) for p in packets), np.int64, count=len(packets))
        offsets = np.zeros(len(packets), np.int64)
        if len(packets):
            offsets[1:] = np.cumsum(lengths)[:-1]
        lt = (
            np.full(len(packets), linktype, np.uint16)
            if isinstance(linktype, int)
            else np.asarray(linktype, np.uint16)
        )
        return PacketBatch(
            data=b"".join(packets) + bytes(READ_SLACK),
            ts=np.asarray(ts, np.float64),
            offset=offsets,
            caplen=lengths.astype(np.int32),
            wirelen=lengths.astype(np.int32),
            linktype=lt,
        )
