"""The application layer of the pipeline: pick the flows whose payload matters, reassemble
them and feed the protocol analyzers.

Choosing is vectorised: only the first payload packet of a new flow is looked at in
Python, and only when its first byte or its ports make a known protocol possible. Flows
found uninteresting are marked in the flow table and never touched again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medsentry.analysis.registry import (
    CANDIDATE_FIRST_BYTES,
    DATAGRAM_PORTS,
    PORT_ONLY,
    STREAM_PORTS,
    choose_datagram,
    choose_stream,
    make_stream_analyzer,
    parse_datagram,
    recognised_by_content,
)
from medsentry.decode.addresses import ip_text, mac_text
from medsentry.decode.columns import PROTO_TCP, PROTO_UDP, TCP_SYN, DecodedBatch
from medsentry.flows.export import uid_texts
from medsentry.flows.reassembly import SEQ_MOD, StreamReassembler
from medsentry.flows.record import FlowRecord
from medsentry.flows.table import EV_SYN, BatchFlows, FlowColumns, FlowTable
from medsentry.inventory.device import Device
from medsentry.inventory.identify import add_evidence
from medsentry.inventory.tracker import InventoryTracker
from medsentry.protocols.base import ORIG, RESP, ProtocolEvent, StreamAnalyzer

INSPECT = 1
IGNORE = 2
MAX_STREAMS = 100_000  # concurrent reassembled connections kept at once
# A stream that yields nothing but malformed events in this many bytes is not the
# protocol we took it for: stop reassembling it.
GIVE_UP_BYTES = 4096


@dataclass(slots=True)
class Endpoints:
    orig_h: str
    resp_h: str
    orig_l2: str | None
    resp_l2: str | None


@dataclass(slots=True)
class Skip:
    """Bytes of one stream direction its analyzer does not need, passed over unread."""

    start: int  # sequence number of the first byte not needed
    size: int  # bytes not needed from there
    seen: int = 0  # bytes from ``start`` covered, without a hole, by packets passed over


@dataclass(slots=True)
class Stream:
    """A connection being reassembled and parsed."""

    uid: str
    protocol: str
    analyzer: StreamAnalyzer
    slot: int
    sides: tuple[StreamReassembler, StreamReassembler] = field(
        default_factory=lambda: (StreamReassembler(), StreamReassembler())
    )
    last_ts: float = 0.0
    fed: int = 0
    good_events: int = 0
    bad_events: int = 0
    by_content: bool = False  # chosen for its first bytes, not only for its port
    skips: list[Skip | None] = field(default_factory=lambda: [None, None])

    def finished(self) -> bool:
        """True when reading further cannot tell us more."""
        if getattr(self.analyzer, "handshake_done", False):
            return True  # TLS: past the handshake everything is encrypted
        if self.good_events:
            return False
        # Garbage from the first bytes on, or (when only the port suggested the
        # protocol) nothing recognisable for a while.
        return self.bad_events > 0 or (not self.by_content and self.fed > GIVE_UP_BYTES)


def _candidate_ports(ports: dict[int, str]) -> np.ndarray:
    return np.array(sorted(ports), dtype=np.uint16)


EvidenceFn = Callable[[ProtocolEvent, str], list[dict[str, Any]]]
ClassifyFn = Callable[[Device], None]


class AppLayer:
    """Routes payload to analyzers and keeps what they learn about flows.

    ``evidence`` turns an event into identity evidence for the device at one end
    ("orig" or "resp"); ``classify`` decides a device's identity from its evidence.
    """

    def __init__(
        self,
        evidence: EvidenceFn | None = None,
        classify: ClassifyFn | None = None,
        skipping: bool = True,
    ) -> None:
        self.evidence = evidence
        # Pass over bytes analyzers declare they do not need (same events, less work).
        self.skipping = skipping
        self._skipping: dict[tuple[int, int], Stream] = {}  # by (numeric uid, direction)
        self.classify_device = classify
        self.streams: dict[int, Stream] = {}  # by numeric flow uid
        self.services: dict[str, str] = {}  # protocol seen per flow uid, until it closes
        self.endpoints: dict[str, Endpoints] = {}  # by text uid, for device evidence
        self._ended: list[str] = []  # flows closed in the previous batch
        self._stream_ports = _candidate_ports(STREAM_PORTS)
        self._datagram_ports = _candidate_ports(DATAGRAM_PORTS)
        self._first_bytes = np.array(sorted(CANDIDATE_FIRST_BYTES), dtype=np.uint8)
        self._port_only = _candidate_ports(
            {p: n for p, n in STREAM_PORTS.items() if n in PORT_ONLY}
        )

    # -- per batch ---------------------------------------------------------------------
    def observe(self, d: DecodedBatch, flows: BatchFlows, table: FlowTable) -> list[ProtocolEvent]:
        if not len(flows.rows):
            return []
        events: list[ProtocolEvent] = []
        events += self._streams(d, flows, table)
        events += self._datagrams(d, flows, table)
        return events

    def _streams(self, d: DecodedBatch, flows: BatchFlows, table: FlowTable) -> list[ProtocolEvent]:
        rows = flows.rows
        tcp_data = (d.proto[rows] == PROTO_TCP) & (d.payload_len[rows] > 0)
        if not tcp_data.any():
            return []
        inspect = table.cols.inspect
        state = inspect[flows.slot]
        undecided = np.flatnonzero(tcp_data & (state == 0))
        if len(undecided):
            self._decide(d, flows, table, undecided)
            state = inspect[flows.slot]
        chosen = np.flatnonzero(tcp_data & (state == INSPECT))
        events: list[ProtocolEvent] = []
        late: list[tuple[int, float]] = []
        if self._skipping and len(chosen):
            chosen, late = self._pass_over(d, flows, chosen)
        batch = d.batch.data
        at = rows[chosen]
        # Columns to plain lists once, so the per-packet loop touches no numpy scalars.
        columns = zip(
            flows.uid[chosen].tolist(),
            flows.direction[chosen].tolist(),
            d.payload_off[at].tolist(),
            d.payload_len[at].tolist(),
            d.ts[at].tolist(),
            d.tcp_seq[at].tolist(),
            ((d.tcp_flags[at] & TCP_SYN) != 0).tolist(),
            strict=True,
        )
        streams = self.streams
        for uid_num, side, start, size, ts, seq, syn in columns:
            stream = streams.get(uid_num)
            if stream is None:
                continue
            stream.last_ts = ts
            skip = stream.skips[side]
            if skip is not None:
                at_rel = (seq - skip.start + (SEQ_MOD >> 1)) % SEQ_MOD - (SEQ_MOD >> 1)
                if not syn and at_rel <= skip.seen and at_rel + size <= skip.size:
                    skip.seen = max(skip.seen, at_rel + size)  # inside the range: pass over
                    continue
                events += self._end_skip(stream, uid_num, side)
            payload = bytes(batch[start : start + size])
            reassembler = stream.sides[side]
            for chunk in reassembler.add(seq, payload, ts, syn):
                events += self._feed(stream, side, chunk.data, chunk.gap, chunk.ts)
            if stream.finished():
                events += self._retire(stream, uid_num, table)
            elif self.skipping and stream.good_events and not reassembler.pending:
                self._start_skip(stream, uid_num, side)
        for uid_num, ts in late:
            stream = streams.get(uid_num)
            if stream is not None:
                stream.last_ts = ts
        return events

    # -- passing over bytes analyzers do not need ---------------------------------------
    def _start_skip(self, stream: Stream, uid_num: int, side: int) -> None:
        skippable = getattr(stream.analyzer, "skippable", None)
        if skippable is None:
            return
        size = int(skippable(side))
        next_seq = stream.sides[side].next_seq
        if size > 0 and next_seq is not None:
            stream.skips[side] = Skip(next_seq, size)
            self._skipping[(uid_num, side)] = stream

    def _end_skip(self, stream: Stream, uid_num: int, side: int) -> list[ProtocolEvent]:
        """Tell the analyzer and the reassembler how far the passed-over bytes reached."""
        skip = stream.skips[side]
        if skip is None:
            return []
        stream.skips[side] = None
        self._skipping.pop((uid_num, side), None)
        events: list[ProtocolEvent] = []
        if skip.seen > 0:
            stream.analyzer.skip(side, skip.seen)  # type: ignore[attr-defined]
            for chunk in stream.sides[side].advance(skip.seen):
                events += self._feed(stream, side, chunk.data, chunk.gap, chunk.ts)
        return events

    def _end_skips(self, stream: Stream, uid_num: int) -> list[ProtocolEvent]:
        return self._end_skip(stream, uid_num, ORIG) + self._end_skip(stream, uid_num, RESP)

    def _pass_over(
        self, d: DecodedBatch, flows: BatchFlows, chosen: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[int, float]]]:
        """Drop, before the Python loop, packets lying wholly inside a skipped range and
        joining on without a hole what was passed over before them (in packet order).

        Returns the packets left and, for streams whose last packet here was dropped,
        that packet's time (the stream's last activity)."""
        uid = flows.uid[chosen]
        side = flows.direction[chosen].astype(np.int64)
        entry = np.full(len(chosen), -1, np.int64)
        ranges = [s.skips[k[1]] for k, s in self._skipping.items()]
        live = [r for r in ranges if r is not None]
        starts = np.array([r.start for r in live], np.int64)
        sizes = np.array([r.size for r in live], np.int64)
        seens = np.array([r.seen for r in live], np.int64)
        k_uid = np.array([k[0] for k in self._skipping], np.uint64)
        k_side = np.array([k[1] for k in self._skipping], np.int64)
        for s in (ORIG, RESP):
            ids = np.flatnonzero(k_side == s)
            order = ids[np.argsort(k_uid[ids], kind="stable")]
            keys = k_uid[order]
            mine = np.flatnonzero(side == s)
            if not len(order) or not len(mine):
                continue
            pos = np.minimum(np.searchsorted(keys, uid[mine]), len(keys) - 1)
            hit = keys[pos] == uid[mine]
            entry[mine[hit]] = order[pos[hit]]
        cand = np.flatnonzero(entry >= 0)
        if not len(cand):
            return chosen, []
        at = flows.rows[chosen[cand]]
        e = entry[cand]
        half = SEQ_MOD >> 1
        rel = (d.tcp_seq[at].astype(np.int64) - starts[e] + half) % SEQ_MOD - half
        end = rel + d.payload_len[at].astype(np.int64)
        ok = (end <= sizes[e]) & ((d.tcp_flags[at] & TCP_SYN) == 0)
        # Per range, in packet order: a packet joins on when it starts at or before the
        # furthest end reached so far (a running maximum, made per range by an offset).
        order = np.argsort(e, kind="stable")
        e, rel, end, ok = e[order], rel[order], end[order], ok[order]
        first = np.r_[True, e[1:] != e[:-1]]
        group = np.cumsum(first) - 1
        offset = group * (SEQ_MOD * 4)
        reach = np.maximum.accumulate(np.maximum(end, seens[e]) + offset) - offset
        before = np.where(first, seens[e], np.r_[0, reach[:-1]])
        ok &= rel <= before
        # Only an unbroken run from each range's first packet is dropped.
        bad = ~ok
        broken = np.cumsum(bad)
        drop = broken - (broken - bad)[first][group] == 0
        dropped = np.zeros(len(chosen), bool)
        dropped[cand[order[drop]]] = True
        # The furthest end of each range's dropped run (drops are a prefix per range).
        tail = np.flatnonzero(drop & np.r_[~drop[1:] | first[1:], True])
        for k, reached in zip(e[tail].tolist(), reach[tail].tolist(), strict=True):
            live[k].seen = max(live[k].seen, reached)
        # The stream's last activity may be a dropped packet.
        rev_uid = uid[::-1]
        _, last_rev = np.unique(rev_uid, return_index=True)
        last = len(chosen) - 1 - last_rev
        last = last[dropped[last]]
        ts = d.ts[flows.rows[chosen[last]]]
        late = list(zip(uid[last].tolist(), ts.tolist(), strict=True))
        return chosen[~dropped], late

    def _retire(self, stream: Stream, uid_num: int, table: FlowTable) -> list[ProtocolEvent]:
        """Stop inspecting a flow: flush its analyzer and never reassemble it again."""
        events = self._end_skips(stream, uid_num)
        table.cols.inspect[stream.slot] = IGNORE
        del self.streams[uid_num]
        if stream.good_events == 0:
            self.services.pop(stream.uid, None)  # it was not that protocol after all
        return events + stream.analyzer.close(stream.last_ts)

    def _decide(
        self, d: DecodedBatch, flows: BatchFlows, table: FlowTable, undecided: np.ndarray
    ) -> None:
        """Choose an analyzer (or none) for flows seeing their first payload."""
        slots = flows.slot[undecided]
        _, first = np.unique(slots, return_index=True)
        pick = undecided[first]
        slots = flows.slot[pick]
        cols = table.cols
        rows = flows.rows[pick]
        data = np.frombuffer(d.batch.data, dtype=np.uint8)
        lead = data[d.payload_off[rows]]
        # A connection seen from its handshake must start like the protocol; one picked
        # up mid-stream can only be judged by its ports.
        handshake = np.isfinite(cols.ev_ts[slots, 0, EV_SYN])
        by_port = np.isin(cols.resp_p[slots], self._stream_ports)
        by_port |= np.isin(cols.orig_p[slots], self._stream_ports)
        maybe = np.isin(lead, self._first_bytes) | (by_port & ~handshake)
        maybe |= by_port & np.isin(cols.resp_p[slots], self._port_only)
        cols.inspect[slots[~maybe]] = IGNORE
        candidates = np.flatnonzero(maybe)
        uids = uid_texts(cols.uid[slots[candidates]])
        for k, uid in zip(candidates.tolist(), uids, strict=True):
            slot = int(slots[k])
            i = int(rows[k])
            side = int(flows.direction[pick[k]])
            payload = d.payload(i)
            first_orig = payload if side == ORIG else b""
            first_resp = payload if side == RESP else b""
            name = choose_stream(
                first_orig,
                first_resp,
                int(cols.orig_p[slot]),
                int(cols.resp_p[slot]),
                handshake_seen=bool(handshake[k]),
            )
            if name is None or len(self.streams) >= MAX_STREAMS:
                cols.inspect[slot] = IGNORE
                continue
            cols.inspect[slot] = INSPECT
            uid_num = int(cols.uid[slot])
            self.endpoints[uid] = self._endpoints(cols, slot)
            self.streams[uid_num] = Stream(
                uid,
                name,
                make_stream_analyzer(name, uid),
                slot,
                by_content=recognised_by_content(first_orig, first_resp),
            )
            self.services[uid] = name

    def _endpoints(self, cols: FlowColumns, slot: int) -> Endpoints:
        l2o, l2r = int(cols.l2[slot, 0]), int(cols.l2[slot, 1])
        return Endpoints(
            orig_h=ip_text(int(cols.orig_hi[slot]), int(cols.orig_lo[slot])),
            resp_h=ip_text(int(cols.resp_hi[slot]), int(cols.resp_lo[slot])),
            orig_l2=mac_text(l2o) if l2o else None,
            resp_l2=mac_text(l2r) if l2r else None,
        )

    def _feed(
        self, stream: Stream, side: int, data: bytes, gap: int, ts: float
    ) -> list[ProtocolEvent]:
        if gap:
            out = stream.analyzer.gap(side, gap, ts)
        else:
            stream.fed += len(data)
            out = stream.analyzer.feed(side, data, ts)
        bad = sum(1 for e in out if e.kind == "malformed")
        stream.bad_events += bad
        stream.good_events += len(out) - bad
        return out

    def _datagrams(
        self, d: DecodedBatch, flows: BatchFlows, table: FlowTable
    ) -> list[ProtocolEvent]:
        rows = flows.rows
        udp = (d.proto[rows] == PROTO_UDP) & (d.payload_len[rows] > 0)
        udp &= np.isin(d.sport[rows], self._datagram_ports) | np.isin(
            d.dport[rows], self._datagram_ports
        )
        picked = np.flatnonzero(udp)
        if not len(picked):
            return []
        cols = table.cols
        uids = uid_texts(flows.uid[picked])
        events: list[ProtocolEvent] = []
        for k, uid in zip(picked.tolist(), uids, strict=True):
            i = int(rows[k])
            payload = d.payload(i)
            name = choose_datagram(int(d.sport[i]), int(d.dport[i]), payload)
            if name is None:
                continue
            slot = int(flows.slot[k])
            if uid not in self.endpoints:
                self.endpoints[uid] = self._endpoints(cols, slot)
            self.services[uid] = name
            events += parse_datagram(name, payload, float(d.ts[i]), uid, int(flows.direction[k]))
        return events

    # -- flow ends ---------------------------------------------------------------------
    def close_flows(self, cols: FlowColumns) -> list[ProtocolEvent]:
        """Flush the analyzers of flows that just ended."""
        events: list[ProtocolEvent] = []
        for uid_num, last in zip(cols.uid.tolist(), cols.last_ts.tolist(), strict=True):
            stream = self.streams.pop(uid_num, None)
            if stream is None:
                continue
            events += self._end_skips(stream, uid_num)
            for side in (ORIG, RESP):
                for chunk in stream.sides[side].flush():
                    events += self._feed(stream, side, chunk.data, chunk.gap, chunk.ts)
            events += stream.analyzer.close(last)
        return events

    def label(self, records: list[FlowRecord]) -> None:
        """Set Zeek's ``service`` field on flows an analyzer recognised, and forget the
        flows that ended a batch ago (their last events have had their devices by now)."""
        for uid in self._ended:
            self.endpoints.pop(uid, None)
        self._ended = [rec.uid for rec in records]
        if not self.services:
            return
        for rec in records:
            name = self.services.pop(rec.uid, None)
            if name:
                rec.service = name

    def finish(self) -> list[ProtocolEvent]:
        events: list[ProtocolEvent] = []
        for uid_num, stream in list(self.streams.items()):
            events += self._end_skips(stream, uid_num)
            for side in (ORIG, RESP):
                for chunk in stream.sides[side].flush():
                    events += self._feed(stream, side, chunk.data, chunk.gap, chunk.ts)
            events += stream.analyzer.close(stream.last_ts)
        self.streams.clear()
        return events

    # -- devices -----------------------------------------------------------------------
    def attach_evidence(self, events: list[ProtocolEvent], inventory: InventoryTracker) -> None:
        """Give each device at either end of a flow what the flow's events say of it."""
        if self.evidence is None:
            return
        for event in events:
            ends = self.endpoints.get(event.uid)
            if ends is None:
                continue
            for role, ip, l2 in (
                ("orig", ends.orig_h, ends.orig_l2),
                ("resp", ends.resp_h, ends.resp_l2),
            ):
                device = inventory.device_of(ip, l2)
                if device is None:
                    continue
                add_evidence(device, self.evidence(event, role))

    def classify(self, devices: list[Device]) -> None:
        if self.classify_device is None:
            return
        for device in devices:
            self.classify_device(device)
