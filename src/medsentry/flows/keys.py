"""Bidirectional flow keys computed for a whole batch at once.

Both directions of a conversation get the same 64-bit key: the two endpoints are put
in a canonical order before hashing. ICMP request/reply types are folded together so an
echo request and its reply form one flow (Zeek does the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medsentry.decode.columns import (
    L3_IPV4,
    L3_IPV6,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    DecodedBatch,
)

U64 = npt.NDArray[np.uint64]

# ICMP message types that answer another; both map to the request type.
ICMP_COUNTERPART = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 10: 9, 9: 10}
ICMP_REQUESTS = {8, 13, 15, 17, 10}
ICMP6_COUNTERPART = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131}
ICMP6_REQUESTS = {128, 133, 135, 130}


def _fold_table(counterpart: dict[int, int], requests: set[int]) -> npt.NDArray[np.int64]:
    """type -> (key type, 1 if it is a reply) packed as key*2 + is_reply; -1 = no pair."""
    table = np.full(256, -1, np.int64)
    for t, other in counterpart.items():
        request = t if t in requests else other
        table[t] = request * 2 + (0 if t in requests else 1)
    return table


ICMP_FOLD = _fold_table(ICMP_COUNTERPART, ICMP_REQUESTS)
ICMP6_FOLD = _fold_table(ICMP6_COUNTERPART, ICMP6_REQUESTS)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: U64) -> U64:
    """The splitmix64 finaliser: a fast, well-spread 64-bit hash step."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


@dataclass(slots=True)
class PacketKeys:
    """Per-packet flow keys for the IP packets of a batch (indices in ``rows``)."""

    rows: npt.NDArray[np.int64]  # packet indices (in the batch) that belong to a flow
    key: U64
    src_is_a: npt.NDArray[np.bool_]  # the packet's source is the canonical first endpoint
    sport: npt.NDArray[np.uint16]  # ports as used in the key (ICMP: folded type, code)
    dport: npt.NDArray[np.uint16]
    icmp_reply: npt.NDArray[np.bool_]


def flow_keys(d: DecodedBatch, frag_ports: FragmentPorts | None = None) -> PacketKeys:
    rows = np.flatnonzero((d.l3 == L3_IPV4) | (d.l3 == L3_IPV6))
    proto = d.proto[rows]
    sport = d.sport[rows].astype(np.uint64)
    dport = d.dport[rows].astype(np.uint64)
    if frag_ports is not None:
        frag_ports.apply(d, rows, sport, dport)
    other = ~np.isin(proto, (PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6))
    sport[other] = 0
    dport[other] = 0
    icmp_reply = np.zeros(len(rows), bool)
    for p, fold in ((PROTO_ICMP, ICMP_FOLD), (PROTO_ICMPV6, ICMP6_FOLD)):
        sel = (proto == p) & d.l4_ok[rows]
        if sel.any():
            t = sport[sel].astype(np.int64)
            folded = fold[t]
            paired = folded >= 0
            # Paired types: key on the request type; others: key on (type, code).
            sport[sel] = np.where(paired, folded >> 1, t).astype(np.uint64)
            dport[sel] = np.where(paired, 0, dport[sel]).astype(np.uint64)
            icmp_reply[np.flatnonzero(sel)[paired & ((folded & 1) == 1)]] = True
    src_hi, src_lo = d.src_hi[rows], d.src_lo[rows]
    dst_hi, dst_lo = d.dst_hi[rows], d.dst_lo[rows]
    icmp = np.isin(proto, (PROTO_ICMP, PROTO_ICMPV6))
    # Canonical order: compare (ip, port); ICMP endpoints are addresses only.
    sp_cmp = np.where(icmp, 0, sport)
    dp_cmp = np.where(icmp, 0, dport)
    src_is_a = (src_hi < dst_hi) | (
        (src_hi == dst_hi) & ((src_lo < dst_lo) | ((src_lo == dst_lo) & (sp_cmp <= dp_cmp)))
    )
    a_hi = np.where(src_is_a, src_hi, dst_hi)
    a_lo = np.where(src_is_a, src_lo, dst_lo)
    b_hi = np.where(src_is_a, dst_hi, src_hi)
    b_lo = np.where(src_is_a, dst_lo, src_lo)
    a_p = np.where(icmp, sport, np.where(src_is_a, sport, dport))
    b_p = np.where(icmp, dport, np.where(src_is_a, dport, sport))
    tail = (a_p << np.uint64(32)) | (b_p << np.uint64(16)) | proto.astype(np.uint64)
    h = mix64(a_hi)
    h = mix64(h ^ a_lo)
    h = mix64(h ^ b_hi)
    h = mix64(h ^ b_lo)
    h = mix64(h ^ tail)
    return PacketKeys(
        rows=rows,
        key=h,
        src_is_a=src_is_a,
        sport=sport.astype(np.uint16),
        dport=dport.astype(np.uint16),
        icmp_reply=icmp_reply,
    )


class FragmentPorts:
    """Ports of fragmented datagrams, learnt from first fragments, so later fragments
    count towards the right flow. Bounded: old entries are dropped first."""

    def __init__(self, limit: int = 65536) -> None:
        self.limit = limit
        self.ports: dict[tuple[int, int, int, int, int, int], tuple[int, int]] = {}
        self.fragments = 0

    def apply(self, d: DecodedBatch, rows: npt.NDArray[np.int64], sport: U64, dport: U64) -> None:
        involved = np.flatnonzero(d.fragment[rows] | d.more_fragments[rows])
        if not len(involved):
            return
        self.fragments += int(d.fragment[rows].sum())
        for j in involved.tolist():
            i = int(rows[j])
            ident = (
                int(d.src_hi[i]),
                int(d.src_lo[i]),
                int(d.dst_hi[i]),
                int(d.dst_lo[i]),
                int(d.ip_id[i]),
                int(d.proto[i]),
            )
            if d.more_fragments[i]:
                self.ports[ident] = (int(sport[j]), int(dport[j]))
                if len(self.ports) > self.limit:
                    self.ports.pop(next(iter(self.ports)))
            else:
                known = self.ports.get(ident)
                if known is not None:
                    sport[j], dport[j] = known
