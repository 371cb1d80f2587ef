"""Decoded header fields of a packet batch, one numpy column per field.

Addresses of both IP versions share one layout: two uint64 words per address, IPv4
stored as an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``), so flows and devices need
no special case per version. Fields a packet does not have are zero; ``l3`` and ``l4``
say which layers were found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medsentry.capture.batch import PacketBatch

# Values of the ``l3`` column.
L3_NONE = 0
L3_IPV4 = 4
L3_IPV6 = 6
L3_ARP = 1
L3_OTHER = 2  # an ethertype we do not decode (LLDP, STP, ...)

# IP protocol numbers used across the code.
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

# TCP flag bits.
TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_URG = 0x20
TCP_ECE = 0x40
TCP_CWR = 0x80

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
U32 = npt.NDArray[np.uint32]
U16 = npt.NDArray[np.uint16]
U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(slots=True)
class DecodedBatch:
    """Columns for ``len(batch)`` packets; row ``i`` is packet ``batch.first_index + i``."""

    batch: PacketBatch
    ts: F64
    wirelen: I32
    eth_src: U64  # 48-bit MAC as an integer, 0 when the link has no MAC
    eth_dst: U64
    vlan: U16  # outermost 802.1Q/802.1ad VLAN id, 0 when untagged
    ethertype: U16
    l3: U8  # L3_* value
    src_hi: U64  # source IP, high 64 bits (0 for IPv4)
    src_lo: U64  # source IP, low 64 bits (0x0000ffff_xxxxxxxx for IPv4)
    dst_hi: U64
    dst_lo: U64
    proto: U8  # IP protocol (next header after extension headers for IPv6)
    ip_len: I32  # IP total length (header + payload) as the header says
    ttl: U8  # TTL / hop limit
    ip_id: U16  # IPv4 identification
    fragment: B  # IPv4/IPv6 fragment that is not the first (no L4 header)
    more_fragments: B  # first fragment of a fragmented datagram
    sport: U16  # TCP/UDP source port; ICMP type
    dport: U16  # TCP/UDP destination port; ICMP code
    tcp_flags: U8
    tcp_seq: U32
    tcp_ack: U32
    tcp_win: U16
    payload_off: I64  # absolute offset of the L4 payload in ``batch.data``
    payload_len: I32  # captured L4 payload bytes (limited by caplen and IP length)
    payload_size: I32  # L4 payload bytes the headers announce (may exceed what was captured)
    l4_ok: B  # transport header fully present
    # ARP (l3 == L3_ARP): opcode and the sender/target addresses.
    arp_op: U16
    arp_sha: U64
    arp_spa: U64  # IPv4 as the low 32 bits
    arp_tha: U64
    arp_tpa: U64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def payload(self, i: int) -> bytes:
        start = int(self.payload_off[i])
        return bytes(self.batch.data[start : start + int(self.payload_len[i])])
