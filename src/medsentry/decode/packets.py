"""Vectorised decoding of link, network and transport headers for a whole batch.

Every field is gathered with numpy fancy indexing at computed offsets; no Python code
runs per packet. Reads past a packet's captured length are masked out afterwards, so a
truncated or malformed packet yields zeros and ``l4_ok = False`` rather than an error.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medsentry.capture.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    READ_SLACK,
    PacketBatch,
)
from medsentry.decode.columns import (
    L3_ARP,
    L3_IPV4,
    L3_IPV6,
    L3_NONE,
    L3_OTHER,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    DecodedBatch,
)

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
IPV4_MAPPED = np.uint64(0x0000FFFF00000000)
IPV6_EXT_HEADERS = (0, 43, 60, 51, 135, 139, 140)  # hop-by-hop, routing, dst opts, AH, ...
IPV6_FRAGMENT = 44


class _Gather:
    """Byte gathers from one batch buffer (padded so header reads never overrun)."""

    def __init__(self, data: bytes | bytearray | memoryview, end: int) -> None:
        # Header offsets computed from a packet's own fields reach at most ~200 bytes past
        # its start, so with READ_SLACK bytes after the last packet no read overruns.
        if len(data) < end + READ_SLACK:
            data = bytes(data[:end]) + bytes(READ_SLACK)
        self.u8 = np.frombuffer(data, dtype=np.uint8)
        self.last = len(self.u8) - 1

    def u8_at(self, pos: I64) -> npt.NDArray[np.uint8]:
        return self.u8[pos]

    def clipped(self, pos: I64) -> I64:
        """Positions from untrusted lengths (IPv6 extension chains) kept in bounds."""
        return np.clip(pos, 0, self.last)

    def be(self, pos: I64, width: int) -> U64:
        """Big-endian unsigned integers of ``width`` bytes at each position."""
        out = self.u8_at(pos).astype(np.uint64)
        for k in range(1, width):
            out = (out << np.uint64(8)) | self.u8_at(pos + k)
        return out

    def le(self, pos: I64, width: int) -> U64:
        out = np.zeros(pos.shape, np.uint64)
        for k in reversed(range(width)):
            out = (out << np.uint64(8)) | self.u8_at(pos + k)
        return out


def decode_batch(batch: PacketBatch) -> DecodedBatch:
    """Decode every packet of ``batch`` into header columns."""
    n = len(batch)
    start = batch.offset
    end = start + batch.caplen.astype(np.int64)
    g = _Gather(batch.data, int(end.max()) if n else 0)
    lt = batch.linktype

    eth_src = np.zeros(n, np.uint64)
    eth_dst = np.zeros(n, np.uint64)
    vlan = np.zeros(n, np.uint16)
    ethertype = np.zeros(n, np.int64)
    l3off = np.full(n, -1, np.int64)

    _link_ethernet(g, lt == LINKTYPE_ETHERNET, start, end, eth_src, eth_dst, vlan, ethertype, l3off)
    _link_null_loop(g, lt, start, end, ethertype, l3off)
    _link_raw(
        g, np.isin(lt, (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6)), start, end, ethertype, l3off
    )
    _link_sll(g, lt == LINKTYPE_LINUX_SLL, start, end, eth_src, ethertype, l3off)
    _link_sll2(g, lt == LINKTYPE_LINUX_SLL2, start, end, eth_src, ethertype, l3off)

    out = _empty_columns(batch, n)
    out.eth_src, out.eth_dst, out.vlan = eth_src, eth_dst, vlan
    out.ethertype = ethertype.astype(np.uint16)
    has_l3 = l3off >= 0
    out.l3[has_l3] = L3_OTHER

    v4 = has_l3 & (ethertype == ETH_IPV4) & (end - l3off >= 20)
    v4 &= (g.u8_at(l3off) >> 4) == 4
    v6 = has_l3 & (ethertype == ETH_IPV6) & (end - l3off >= 40)
    v6 &= (g.u8_at(l3off) >> 4) == 6
    arp = has_l3 & (ethertype == ETH_ARP) & (end - l3off >= 8)

    l4off = np.full(n, -1, np.int64)
    l4len = np.zeros(n, np.int64)  # bytes the IP header says follow the L3 header(s)
    _ipv4(g, v4, l3off, out, l4off, l4len)
    _ipv6(g, v6, l3off, end, out, l4off, l4len)
    _arp(g, arp, l3off, end, out)
    _transport(g, l4off, l4len, end, out)
    return out


def _empty_columns(batch: PacketBatch, n: int) -> DecodedBatch:
    def z(dtype: type) -> np.ndarray:
        return np.zeros(n, dtype)

    return DecodedBatch(
        batch=batch,
        ts=batch.ts,
        wirelen=batch.wirelen,
        eth_src=z(np.uint64),
        eth_dst=z(np.uint64),
        vlan=z(np.uint16),
        ethertype=z(np.uint16),
        l3=np.full(n, L3_NONE, np.uint8),
        src_hi=z(np.uint64),
        src_lo=z(np.uint64),
        dst_hi=z(np.uint64),
        dst_lo=z(np.uint64),
        proto=z(np.uint8),
        ip_len=z(np.int32),
        ttl=z(np.uint8),
        ip_id=z(np.uint16),
        fragment=z(np.bool_),
        more_fragments=z(np.bool_),
        sport=z(np.uint16),
        dport=z(np.uint16),
        tcp_flags=z(np.uint8),
        tcp_seq=z(np.uint32),
        tcp_ack=z(np.uint32),
        tcp_win=z(np.uint16),
        payload_off=z(np.int64),
        payload_len=z(np.int32),
        payload_size=z(np.int32),
        l4_ok=z(np.bool_),
        arp_op=z(np.uint16),
        arp_sha=z(np.uint64),
        arp_spa=z(np.uint64),
        arp_tha=z(np.uint64),
        arp_tpa=z(np.uint64),
    )


def _link_ethernet(
    g: _Gather,
    sel: np.ndarray,
    start: I64,
    end: I64,
    eth_src: U64,
    eth_dst: U64,
    vlan: np.ndarray,
    ethertype: I64,
    l3off: I64,
) -> None:
    idx = np.flatnonzero(sel & (end - start >= 14))
    if not len(idx):
        return
    s = start[idx]
    eth_dst[idx] = g.be(s, 6)
    eth_src[idx] = g.be(s + 6, 6)
    et = g.be(s + 12, 2).astype(np.int64)
    pos = s + 14
    tag = np.zeros(len(idx), np.uint16)
    e = end[idx]
    for _ in range(3):  # 802.1Q, QinQ, and one more nested tag at most
        tagged = np.isin(et, VLAN_TAGS) & (e - pos >= 4)
        if not tagged.any():
            break
        first = tagged & (tag == 0)
        tag[first] = (g.be(pos[first], 2) & np.uint64(0x0FFF)).astype(np.uint16)
        et = np.where(tagged, g.be(pos + 2, 2).astype(np.int64), et)
        pos = np.where(tagged, pos + 4, pos)
    vlan[idx] = tag
    ethertype[idx] = et
    l3off[idx] = np.where(et >= 0x0600, pos, -1)


def _link_null_loop(
    g: _Gather, lt: np.ndarray, start: I64, end: I64, ethertype: I64, l3off: I64
) -> None:
    # NULL stores the address family in the capturing host's byte order; LOOP in network
    # order. AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (BSDs, macOS).
    sel = np.isin(lt, (LINKTYPE_NULL, LINKTYPE_LOOP)) & (end - start >= 4)
    idx = np.flatnonzero(sel)
    if not len(idx):
        return
    s = start[idx]
    fam_le = g.le(s, 4)
    fam_be = g.be(s, 4)
    fam = np.where(fam_le < 256, fam_le, fam_be)
    et = np.where(fam == 2, ETH_IPV4, np.where(np.isin(fam, (10, 24, 28, 30)), ETH_IPV6, 0))
    ethertype[idx] = et
    l3off[idx] = np.where(et > 0, s + 4, -1)


def _link_raw(
    g: _Gather, sel: np.ndarray, start: I64, end: I64, ethertype: I64, l3off: I64
) -> None:
    idx = np.flatnonzero(sel & (end - start >= 1))
    if not len(idx):
        return
    version = g.u8_at(start[idx]) >> 4
    et = np.where(version == 4, ETH_IPV4, np.where(version == 6, ETH_IPV6, 0))
    ethertype[idx] = et
    l3off[idx] = np.where(et > 0, start[idx], -1)


def _link_sll(
    g: _Gather, sel: np.ndarray, start: I64, end: I64, eth_src: U64, ethertype: I64, l3off: I64
) -> None:
    idx = np.flatnonzero(sel & (end - start >= 16))
    if not len(idx):
        return
    s = start[idx]
    arphrd = g.be(s + 2, 2)
    alen = g.be(s + 4, 2)
    mac = np.where((arphrd == 1) & (alen == 6), g.be(s + 6, 6), np.uint64(0))
    eth_src[idx] = mac
    et = g.be(s + 14, 2).astype(np.int64)
    ethertype[idx] = et
    l3off[idx] = s + 16


def _link_sll2(
    g: _Gather, sel: np.ndarray, start: I64, end: I64, eth_src: U64, ethertype: I64, l3off: I64
) -> None:
    idx = np.flatnonzero(sel & (end - start >= 20))
    if not len(idx):
        return
    s = start[idx]
    arphrd = g.be(s + 8, 2)
    alen = g.u8_at(s + 11)
    mac = np.where((arphrd == 1) & (alen == 6), g.be(s + 12, 6), np.uint64(0))
    eth_src[idx] = mac
    et = g.be(s, 2).astype(np.int64)
    ethertype[idx] = et
    l3off[idx] = s + 20


def _ipv4(
    g: _Gather, sel: np.ndarray, l3off: I64, out: DecodedBatch, l4off: I64, l4len: I64
) -> None:
    idx = np.flatnonzero(sel)
    if not len(idx):
        return
    p = l3off[idx]
    ihl = (g.u8_at(p) & 0x0F).astype(np.int64) * 4
    total = g.be(p + 2, 2).astype(np.int64)
    frag = g.be(p + 6, 2)
    offset = frag & np.uint64(0x1FFF)
    more = (frag & np.uint64(0x2000)) != 0
    out.l3[idx] = L3_IPV4
    out.ip_len[idx] = total
    out.ip_id[idx] = g.be(p + 4, 2).astype(np.uint16)
    out.ttl[idx] = g.u8_at(p + 8)
    out.proto[idx] = g.u8_at(p + 9)
    out.src_lo[idx] = IPV4_MAPPED | g.be(p + 12, 4)
    out.dst_lo[idx] = IPV4_MAPPED | g.be(p + 16, 4)
    out.fragment[idx] = offset != 0
    out.more_fragments[idx] = more & (offset == 0)
    ok = (ihl >= 20) & (offset == 0)
    l4off[idx] = np.where(ok, p + ihl, -1)
    l4len[idx] = np.maximum(total - ihl, 0)


def _ipv6(
    g: _Gather,
    sel: np.ndarray,
    l3off: I64,
    end: I64,
    out: DecodedBatch,
    l4off: I64,
    l4len: I64,
) -> None:
    idx = np.flatnonzero(sel)
    if not len(idx):
        return
    p = l3off[idx]
    plen = g.be(p + 4, 2).astype(np.int64)
    nxt = g.u8_at(p + 6).astype(np.int64)
    out.l3[idx] = L3_IPV6
    out.ip_len[idx] = plen + 40
    out.ttl[idx] = g.u8_at(p + 7)
    out.src_hi[idx] = g.be(p + 8, 8)
    out.src_lo[idx] = g.be(p + 16, 8)
    out.dst_hi[idx] = g.be(p + 24, 8)
    out.dst_lo[idx] = g.be(p + 32, 8)
    pos = p + 40
    remaining = plen.copy()
    first_frag = np.ones(len(idx), bool)
    is_frag = np.zeros(len(idx), bool)
    e = end[idx]
    for _ in range(6):  # walk a bounded number of extension headers
        pos = np.minimum(g.clipped(pos), e)
        ext = np.isin(nxt, IPV6_EXT_HEADERS) & (e - pos >= 8)
        fr = (nxt == IPV6_FRAGMENT) & (e - pos >= 8)
        if not (ext.any() or fr.any()):
            break
        hdr_len = np.where(
            nxt == 51,  # AH counts 4-byte units, minus 2
            (g.u8_at(pos + 1).astype(np.int64) + 2) * 4,
            (g.u8_at(pos + 1).astype(np.int64) + 1) * 8,
        )
        hdr_len = np.where(fr, 8, hdr_len)
        frag_field = g.be(pos + 2, 2)
        frag_off = frag_field & np.uint64(0xFFF8)
        is_frag |= fr
        first_frag &= ~(fr & (frag_off != 0))
        out.more_fragments[idx[fr & (frag_off == 0) & ((frag_field & np.uint64(1)) != 0)]] = True
        step = ext | fr
        new_nxt = g.u8_at(pos).astype(np.int64)
        nxt = np.where(step, new_nxt, nxt)
        pos = np.where(step, pos + hdr_len, pos)
        remaining = np.where(step, remaining - hdr_len, remaining)
    out.proto[idx] = nxt.astype(np.uint8)
    out.fragment[idx] = is_frag & ~first_frag
    l4off[idx] = np.where(first_frag, pos, -1)
    l4len[idx] = np.maximum(remaining, 0)


def _arp(g: _Gather, sel: np.ndarray, l3off: I64, end: I64, out: DecodedBatch) -> None:
    idx = np.flatnonzero(sel)
    if not len(idx):
        return
    p = l3off[idx]
    out.l3[idx] = L3_ARP
    out.arp_op[idx] = g.be(p + 6, 2).astype(np.uint16)
    hlen = g.u8_at(p + 4).astype(np.int64)
    # Addresses only for IPv4 over hardware addresses of at least 6 bytes (some
    # captures carry longer ones); other ARP packets keep just their opcode.
    usable = (g.be(p + 2, 2) == ETH_IPV4) & (g.u8_at(p + 5) == 4) & (hlen >= 6)
    usable &= end[idx] - p >= 8 + 2 * hlen + 8
    idx, p, hlen = idx[usable], p[usable], hlen[usable]
    out.arp_sha[idx] = g.be(p + 8, 6)
    out.arp_spa[idx] = g.be(p + 8 + hlen, 4)
    out.arp_tha[idx] = g.be(p + 12 + hlen, 6)
    out.arp_tpa[idx] = g.be(p + 12 + 2 * hlen, 4)


def _transport(g: _Gather, l4off: I64, l4len: I64, end: I64, out: DecodedBatch) -> None:
    has = l4off >= 0
    proto = out.proto
    avail = end - l4off

    tcp = np.flatnonzero(has & (proto == PROTO_TCP) & (avail >= 20))
    if len(tcp):
        p = l4off[tcp]
        out.sport[tcp] = g.be(p, 2).astype(np.uint16)
        out.dport[tcp] = g.be(p + 2, 2).astype(np.uint16)
        out.tcp_seq[tcp] = g.be(p + 4, 4).astype(np.uint32)
        out.tcp_ack[tcp] = g.be(p + 8, 4).astype(np.uint32)
        doff = (g.u8_at(p + 12) >> 4).astype(np.int64) * 4
        out.tcp_flags[tcp] = g.u8_at(p + 13)
        out.tcp_win[tcp] = g.be(p + 14, 2).astype(np.uint16)
        ok = (doff >= 20) & (avail[tcp] >= doff)
        _payload(out, tcp, p + doff, l4len[tcp] - doff, end[tcp], ok)

    udp = np.flatnonzero(has & (proto == PROTO_UDP) & (avail >= 8))
    if len(udp):
        p = l4off[udp]
        out.sport[udp] = g.be(p, 2).astype(np.uint16)
        out.dport[udp] = g.be(p + 2, 2).astype(np.uint16)
        _payload(out, udp, p + 8, l4len[udp] - 8, end[udp], np.ones(len(udp), bool))

    icmp = np.flatnonzero(has & np.isin(proto, (PROTO_ICMP, PROTO_ICMPV6)) & (avail >= 4))
    if len(icmp):
        p = l4off[icmp]
        out.sport[icmp] = g.u8_at(p)
        out.dport[icmp] = g.u8_at(p + 1)
        _payload(out, icmp, p + 4, l4len[icmp] - 4, end[icmp], np.ones(len(icmp), bool))


def _payload(
    out: DecodedBatch, idx: np.ndarray, start: I64, size: I64, end: I64, ok: np.ndarray
) -> None:
    size = np.maximum(size, 0)
    out.l4_ok[idx] = ok
    out.payload_off[idx] = np.where(ok, start, 0)
    out.payload_size[idx] = np.where(ok, size, 0)
    out.payload_len[idx] = np.where(ok, np.clip(np.minimum(size, end - start), 0, None), 0)
