"""The flow table: bidirectional flows with Zeek conn.log semantics, updated per batch.

State lives in numpy columns indexed by a slot number; a sorted array of active keys
maps flow keys to slots, so looking up and updating every flow touched by a batch is a
handful of vectorised operations, whatever the number of packets. Flows leave the table
on idle timeout, active timeout, table overflow, or at the end of input; they are
returned as ``ClosedFlows`` columns, turned into records only when somebody asks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medsentry.decode.columns import (
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    DecodedBatch,
)
from medsentry.flows.keys import (
    ICMP6_COUNTERPART,
    ICMP_COUNTERPART,
    FragmentPorts,
    PacketKeys,
    flow_keys,
    mix64,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# History events (Zeek letters), per direction: orig upper case, responder lower case.
EVENTS = "SHADFR"
EV_SYN, EV_SYNACK, EV_ACK, EV_DATA, EV_FIN, EV_RST = range(6)
N_EV = len(EVENTS)


def _pair_table(pairs: dict[int, int]) -> npt.NDArray[np.int64]:
    table = np.full(256, -1, np.int64)
    for t, other in pairs.items():
        table[t] = other
    return table


ICMP_PAIR = _pair_table(ICMP_COUNTERPART)
ICMP6_PAIR = _pair_table(ICMP6_COUNTERPART)


@dataclass(slots=True)
class FlowTimeouts:
    """Seconds of silence after which a flow ends (Zeek's defaults), and the longest
    a flow may last before it is reported and restarted (0 disables)."""

    tcp: float = 300.0
    udp: float = 60.0
    icmp: float = 60.0
    other: float = 60.0
    tcp_closed: float = 5.0  # after FIN in both directions or RST
    active: float = 3600.0

    def idle_for(self, proto: npt.NDArray[np.uint8]) -> F64:
        out = np.full(proto.shape, self.other, np.float64)
        out[proto == PROTO_TCP] = self.tcp
        out[proto == PROTO_UDP] = self.udp
        out[np.isin(proto, (PROTO_ICMP, PROTO_ICMPV6))] = self.icmp
        return out


@dataclass(slots=True)
class FlowColumns:
    """Flow state, one row per flow (used both for the table and for closed flows)."""

    key: npt.NDArray[np.uint64]
    uid: npt.NDArray[np.uint64]
    proto: npt.NDArray[np.uint8]
    orig_hi: npt.NDArray[np.uint64]
    orig_lo: npt.NDArray[np.uint64]
    resp_hi: npt.NDArray[np.uint64]
    resp_lo: npt.NDArray[np.uint64]
    orig_p: npt.NDArray[np.uint16]
    resp_p: npt.NDArray[np.uint16]
    orig_is_a: npt.NDArray[np.bool_]
    flipped: npt.NDArray[np.bool_]
    first_ts: F64
    last_ts: F64
    pkts: I64  # (n, 2): orig, resp
    ip_bytes: I64  # (n, 2)
    bytes: I64  # (n, 2) transport payload bytes
    ev_ts: F64  # (n, 2, N_EV): first time each history event was seen, inf if never
    l2: npt.NDArray[np.uint64]  # (n, 2): MAC of each side (0 if none)
    vlan: npt.NDArray[np.uint16]
    # Whether later stages inspect this flow's payload: 0 undecided, 1 yes, 2 no.
    inspect: npt.NDArray[np.int8]

    @staticmethod
    def allocate(n: int) -> FlowColumns:
        return FlowColumns(
            key=np.zeros(n, np.uint64),
            uid=np.zeros(n, np.uint64),
            proto=np.zeros(n, np.uint8),
            orig_hi=np.zeros(n, np.uint64),
            orig_lo=np.zeros(n, np.uint64),
            resp_hi=np.zeros(n, np.uint64),
            resp_lo=np.zeros(n, np.uint64),
            orig_p=np.zeros(n, np.uint16),
            resp_p=np.zeros(n, np.uint16),
            orig_is_a=np.zeros(n, bool),
            flipped=np.zeros(n, bool),
            first_ts=np.zeros(n, np.float64),
            last_ts=np.zeros(n, np.float64),
            pkts=np.zeros((n, 2), np.int64),
            ip_bytes=np.zeros((n, 2), np.int64),
            bytes=np.zeros((n, 2), np.int64),
            ev_ts=np.full((n, 2, N_EV), np.inf),
            l2=np.zeros((n, 2), np.uint64),
            vlan=np.zeros(n, np.uint16),
            inspect=np.zeros(n, np.int8),
        )

    def __len__(self) -> int:
        return int(self.key.shape[0])

    def take(self, rows: npt.NDArray[np.int64]) -> FlowColumns:
        return FlowColumns(**{name: getattr(self, name)[rows] for name in self.__slots__})

    def put(self, rows: npt.NDArray[np.int64], other: FlowColumns) -> None:
        for name in self.__slots__:
            getattr(self, name)[rows] = getattr(other, name)

    def grow(self, n: int) -> FlowColumns:
        bigger = FlowColumns.allocate(n)
        size = len(self)
        for name in self.__slots__:
            getattr(bigger, name)[:size] = getattr(self, name)
        return bigger

    @staticmethod
    def concat(parts: list[FlowColumns]) -> FlowColumns:
        if not parts:
            return FlowColumns.allocate(0)
        return FlowColumns(
            **{
                name: np.concatenate([getattr(p, name) for p in parts])
                for name in FlowColumns.__slots__
            }
        )


@dataclass(slots=True)
class BatchFlows:
    """Which flow each packet of a batch belongs to."""

    rows: I64  # packet indices in the batch that belong to a flow
    slot: I64  # table slot of each of those packets
    direction: npt.NDArray[np.int8]  # 0 = originator to responder, 1 = reverse
    uid: npt.NDArray[np.uint64]  # numeric uid of each of those packets' flow


def _tcp_events(d: DecodedBatch, rows: I64) -> npt.NDArray[np.uint8]:
    """Bit set of history events (1 << EV_*) carried by each packet."""
    flags = d.tcp_flags[rows]
    tcp = (d.proto[rows] == PROTO_TCP) & d.l4_ok[rows]
    syn = (flags & TCP_SYN) != 0
    ack = (flags & TCP_ACK) != 0
    fin = (flags & TCP_FIN) != 0
    rst = (flags & TCP_RST) != 0
    data = d.payload_size[rows] > 0
    ev = np.zeros(len(rows), np.uint8)
    ev |= (tcp & syn & ~ack).astype(np.uint8) << EV_SYN
    ev |= (tcp & syn & ack).astype(np.uint8) << EV_SYNACK
    ev |= (tcp & ack & ~syn & ~fin & ~rst & ~data).astype(np.uint8) << EV_ACK
    ev |= (data & (d.proto[rows] != PROTO_ICMP) & (d.proto[rows] != PROTO_ICMPV6)).astype(
        np.uint8
    ) << EV_DATA
    ev |= (tcp & fin).astype(np.uint8) << EV_FIN
    ev |= (tcp & rst).astype(np.uint8) << EV_RST
    return ev


class FlowTable:
    """Bidirectional flows across batches, with bounded memory."""

    def __init__(
        self,
        timeouts: FlowTimeouts | None = None,
        max_flows: int = 1_000_000,
        initial_capacity: int = 65536,
    ) -> None:
        self.timeouts = timeouts or FlowTimeouts()
        self.max_flows = max_flows
        self.cols = FlowColumns.allocate(initial_capacity)
        self.active_keys = np.zeros(0, np.uint64)  # sorted
        self.active_slots = np.zeros(0, np.int64)
        self.free = list(range(initial_capacity - 1, -1, -1))
        self.fragments = FragmentPorts()
        self.clock = -np.inf
        self.flows_opened = 0

    def __len__(self) -> int:
        return int(self.active_keys.shape[0])

    # -- slots -------------------------------------------------------------------------
    def _alloc(self, n: int) -> I64:
        while len(self.free) < n:
            old = len(self.cols)
            self.cols = self.cols.grow(old * 2)
            self.free.extend(range(old * 2 - 1, old - 1, -1))
        taken = self.free[-n:] if n else []
        del self.free[len(self.free) - n :]
        return np.asarray(taken[::-1], np.int64)

    def _lookup(self, keys: npt.NDArray[np.uint64]) -> I64:
        """Slot of each key, or -1 when the key has no active flow."""
        if not len(self.active_keys):
            return np.full(len(keys), -1, np.int64)
        pos = np.searchsorted(self.active_keys, keys)
        pos_c = np.minimum(pos, len(self.active_keys) - 1)
        found = self.active_keys[pos_c] == keys
        return np.where(found, self.active_slots[pos_c], -1)

    def _deactivate(self, slots: I64) -> FlowColumns:
        if not len(slots):
            return FlowColumns.allocate(0)
        gone = self.cols.take(slots)
        keep = ~np.isin(self.active_slots, slots)
        self.active_keys = self.active_keys[keep]
        self.active_slots = self.active_slots[keep]
        self.free.extend(slots.tolist())
        return gone

    def _activate(self, keys: npt.NDArray[np.uint64], slots: I64) -> None:
        all_keys = np.concatenate([self.active_keys, keys])
        all_slots = np.concatenate([self.active_slots, slots])
        order = np.argsort(all_keys, kind="stable")
        self.active_keys = all_keys[order]
        self.active_slots = all_slots[order]

    # -- batches -----------------------------------------------------------------------
    def update(self, d: DecodedBatch) -> tuple[BatchFlows, FlowColumns]:
        """Add a batch; returns each packet's flow and the flows that ended."""
        pk = flow_keys(d, self.fragments)
        closed: list[FlowColumns] = []
        if not len(pk.rows):
            closed.append(self._expire())
            empty = np.zeros(0, np.int64)
            return BatchFlows(empty, empty, np.zeros(0, np.int8), np.zeros(0, np.uint64)), (
                FlowColumns.concat(closed)
            )
        order = np.argsort(pk.key, kind="stable")
        rows = pk.rows[order]
        key = pk.key[order]
        ts = d.ts[rows]
        proto = d.proto[rows]
        events = _tcp_events(d, rows)
        self.clock = max(self.clock, float(ts.max()))

        starts = self._segment_starts(key, ts, proto, events)
        seg_of = np.cumsum(starts) - 1
        seg_first = np.flatnonzero(starts)
        seg_key = key[seg_first]

        slots, closed_now = self._assign_slots(d, pk, order, seg_first, seg_key, ts, proto, events)
        closed.append(closed_now)
        pkt_slot = slots[seg_of]
        src_is_a = pk.src_is_a[order]
        direction = (src_is_a != self.cols.orig_is_a[pkt_slot]).astype(np.int8)
        self._accumulate(d, rows, slots, seg_of, seg_first, direction, ts, events)
        closed.append(self._expire())
        flows = BatchFlows(
            rows=rows, slot=pkt_slot, direction=direction, uid=self.cols.uid[pkt_slot]
        )
        return flows, FlowColumns.concat(closed)

    def _segment_starts(
        self,
        key: npt.NDArray[np.uint64],
        ts: F64,
        proto: npt.NDArray[np.uint8],
        events: npt.NDArray[np.uint8],
    ) -> npt.NDArray[np.bool_]:
        """Where a new flow starts in the key-sorted packets of this batch."""
        n = len(key)
        starts = np.ones(n, bool)
        same = key[1:] == key[:-1]
        idle = self.timeouts.idle_for(proto[1:])
        # A new flow on silence longer than the idle timeout within one batch.
        starts[1:] = ~same | ((ts[1:] - ts[:-1]) > idle)
        # A new TCP connection: a bare SYN after a FIN or RST of the previous one.
        syn = (events & (1 << EV_SYN)) != 0
        closing = ((events & ((1 << EV_FIN) | (1 << EV_RST))) != 0).astype(np.int64)
        cum = np.cumsum(closing)
        for _ in range(64):  # each round adds at most one boundary per flow
            seg_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
            # FIN/RST packets in [segment start, i)
            before_in_seg = cum - closing - (cum[seg_start] - closing[seg_start])
            cand = syn & ~starts & (before_in_seg > 0)
            if not cand.any():
                break
            idx = np.flatnonzero(cand)
            first_per_seg = idx[np.unique(seg_start[idx], return_index=True)[1]]
            starts[first_per_seg] = True
        return starts

    def _assign_slots(
        self,
        d: DecodedBatch,
        pk: PacketKeys,
        order: I64,
        seg_first: I64,
        seg_key: npt.NDArray[np.uint64],
        ts: F64,
        proto: npt.NDArray[np.uint8],
        events: npt.NDArray[np.uint8],
    ) -> tuple[I64, FlowColumns]:
        """A table slot per segment: the active flow it continues, or a new one."""
        nseg = len(seg_first)
        first_of_key = np.ones(nseg, bool)
        first_of_key[1:] = seg_key[1:] != seg_key[:-1]
        existing = np.full(nseg, -1, np.int64)
        existing[first_of_key] = self._lookup(seg_key[first_of_key])
        has = existing >= 0
        # Does the segment continue the flow already in the table?
        ex = existing[has]
        gap = ts[seg_first[has]] - self.cols.last_ts[ex]
        idle = self.timeouts.idle_for(self.cols.proto[ex])
        ended, closing = self._teardown(ex)
        new_syn = (events[seg_first[has]] & (1 << EV_SYN)) != 0
        restart = (gap > idle) | (new_syn & closing) | (ended & (gap > self.timeouts.tcp_closed))
        closed = self._deactivate(ex[restart])
        continuing = has.copy()
        continuing[np.flatnonzero(has)[restart]] = False

        slots = np.where(continuing, existing, -1)
        fresh = np.flatnonzero(~continuing)
        new_slots = self._alloc(len(fresh))
        slots[fresh] = new_slots
        self._init_flows(d, pk, order, seg_first[fresh], new_slots, events)
        self._activate(seg_key[fresh], new_slots)
        self.flows_opened += len(fresh)
        return slots, closed

    def _init_flows(
        self,
        d: DecodedBatch,
        pk: PacketKeys,
        order: I64,
        first_pos: I64,
        slots: I64,
        events: npt.NDArray[np.uint8],
    ) -> None:
        """Fill new flows from their first packet; decide who is the originator."""
        j = order[first_pos]  # index into pk arrays
        i = pk.rows[j]  # index into the batch
        proto = d.proto[i]
        ev = events[first_pos]
        sport, dport = pk.sport[j], pk.dport[j]
        is_tcp = proto == PROTO_TCP
        icmp = np.isin(proto, (PROTO_ICMP, PROTO_ICMPV6))
        # The sender of a SYN-ACK is the responder; without a handshake, a packet from
        # a well-known port to an ephemeral one most likely comes from the server.
        synack_first = is_tcp & ((ev & (1 << EV_SYNACK)) != 0)
        server_first = (
            ~icmp
            & ((ev & (1 << EV_SYN)) == 0)
            & (sport < 1024)
            & (dport >= 1024)
            & np.isin(proto, (PROTO_TCP, PROTO_UDP))
        )
        flip = synack_first | server_first | (icmp & pk.icmp_reply[j])
        src_is_a = pk.src_is_a[j]
        c = self.cols
        c.key[slots] = pk.key[j]
        c.proto[slots] = proto
        c.orig_is_a[slots] = src_is_a != flip
        c.flipped[slots] = synack_first
        c.orig_hi[slots] = np.where(flip, d.dst_hi[i], d.src_hi[i])
        c.orig_lo[slots] = np.where(flip, d.dst_lo[i], d.src_lo[i])
        c.resp_hi[slots] = np.where(flip, d.src_hi[i], d.dst_hi[i])
        c.resp_lo[slots] = np.where(flip, d.src_lo[i], d.dst_lo[i])
        c.orig_p[slots] = np.where(icmp | ~flip, sport, dport)
        # ICMP: Zeek reports the request type and its answer's type (or the code).
        t = np.minimum(sport, 255)
        counterpart = np.where(proto == PROTO_ICMPV6, ICMP6_PAIR[t], ICMP_PAIR[t])
        resp_icmp = np.where(counterpart >= 0, counterpart, dport)
        c.resp_p[slots] = np.where(icmp, resp_icmp, np.where(flip, sport, dport))
        ts = d.ts[i]
        c.first_ts[slots] = ts
        c.last_ts[slots] = ts
        c.pkts[slots] = 0
        c.ip_bytes[slots] = 0
        c.bytes[slots] = 0
        c.ev_ts[slots] = np.inf
        c.l2[slots] = 0
        c.vlan[slots] = d.vlan[i]
        c.inspect[slots] = 0
        with np.errstate(over="ignore"):
            c.uid[slots] = mix64(pk.key[j] ^ ts.view(np.uint64))

    def _accumulate(
        self,
        d: DecodedBatch,
        rows: I64,
        slots: I64,
        seg_of: I64,
        seg_first: I64,
        direction: npt.NDArray[np.int8],
        ts: F64,
        events: npt.NDArray[np.uint8],
    ) -> None:
        nseg = len(slots)
        c = self.cols
        bucket = seg_of * 2 + direction
        nb = nseg * 2
        pk = np.bincount(bucket, minlength=nb).reshape(nseg, 2)
        ipb = np.bincount(bucket, weights=d.ip_len[rows], minlength=nb).reshape(nseg, 2)
        pay = np.bincount(bucket, weights=d.payload_size[rows], minlength=nb).reshape(nseg, 2)
        c.pkts[slots] += pk
        c.ip_bytes[slots] += ipb.astype(np.int64)
        c.bytes[slots] += pay.astype(np.int64)
        seg_last = np.append(seg_first[1:], len(rows)) - 1
        c.last_ts[slots] = np.maximum(c.last_ts[slots], ts[seg_last])
        c.first_ts[slots] = np.minimum(c.first_ts[slots], ts[seg_first])
        # First time each event was seen per direction (packets are in time order within
        # a segment, so the minimum over a segment is its first occurrence).
        ev_ts = c.ev_ts[slots]
        for e in range(N_EV):
            has_e = (events & (1 << e)) != 0
            if not has_e.any():
                continue
            for side in (0, 1):
                t = np.where(has_e & (direction == side), ts, np.inf)
                first = np.minimum.reduceat(t, seg_first)
                ev_ts[:, side, e] = np.minimum(ev_ts[:, side, e], first)
        c.ev_ts[slots] = ev_ts
        # Link-layer address of each side: the source MAC of its first packet.
        mac = d.eth_src[rows]
        for side in (0, 1):
            sel = (direction == side) & (mac != 0)
            if not sel.any():
                continue
            seg_sel = seg_of[sel]
            uniq, first_idx = np.unique(seg_sel, return_index=True)
            target = slots[uniq]
            unset = c.l2[target, side] == 0
            c.l2[target[unset], side] = mac[sel][first_idx[unset]]

    def _teardown(self, slots: I64) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Per flow: ended (FIN both ways, or a RST) and closing (any FIN or RST seen)."""
        seen = np.isfinite(self.cols.ev_ts[slots])
        fin, rst = seen[:, :, EV_FIN], seen[:, :, EV_RST]
        ended = np.asarray(fin.all(axis=1) | rst.any(axis=1))
        return ended, np.asarray((fin | rst).any(axis=1))

    def _expire(self) -> FlowColumns:
        """Flows idle past their timeout, too long-lived, or over the table limit."""
        if not len(self.active_slots):
            return FlowColumns.allocate(0)
        slots = self.active_slots
        c = self.cols
        last = c.last_ts[slots]
        idle = self.timeouts.idle_for(c.proto[slots])
        done = (self.clock - last) > idle
        ended, _ = self._teardown(slots)
        done |= ended & ((self.clock - last) > self.timeouts.tcp_closed)
        if self.timeouts.active > 0:
            done |= (last - c.first_ts[slots]) > self.timeouts.active
        over = len(slots) - int(done.sum()) - self.max_flows
        if over > 0:
            # Evict the least recently active flows to keep memory bounded.
            candidates = np.flatnonzero(~done)
            oldest = candidates[np.argsort(last[candidates], kind="stable")[:over]]
            done[oldest] = True
        return self._deactivate(slots[done])

    def advance(self, now: float) -> FlowColumns:
        """Time passed with no packets (live capture): flows idle by ``now`` end."""
        self.clock = max(self.clock, now)
        return self._expire()

    def flush(self) -> FlowColumns:
        """End of input: every remaining flow is closed."""
        return self._deactivate(self.active_slots.copy())
