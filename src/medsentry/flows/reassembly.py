"""TCP stream reassembly for the flows later stages ask for.

Each direction of a connection becomes an in-order byte stream. Retransmitted and
overlapping segments are trimmed to the bytes not yet delivered (first copy wins, as
most end hosts do); out-of-order segments wait in a bounded buffer; when a hole cannot
be filled (lost packet, buffer full, connection end) the stream reports a gap of the
missing size and carries on, so parsers can resynchronise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEQ_MOD = 1 << 32
DEFAULT_BUFFER_LIMIT = 1 << 20  # out-of-order bytes kept per direction


def seq_diff(a: int, b: int) -> int:
    """``a - b`` in 32-bit sequence space, as a signed number."""
    d = (a - b) % SEQ_MOD
    return d - SEQ_MOD if d >= SEQ_MOD // 2 else d


@dataclass(slots=True)
class Chunk:
    """Reassembled output: ``data`` bytes in order, or a ``gap`` of missing bytes."""

    data: bytes = b""
    gap: int = 0
    ts: float = 0.0


@dataclass(slots=True)
class StreamReassembler:
    """One direction of one TCP connection."""

    limit: int = DEFAULT_BUFFER_LIMIT
    next_seq: int | None = None
    pending: dict[int, tuple[bytes, float]] = field(default_factory=dict)
    pending_bytes: int = 0
    delivered: int = 0
    gap_bytes: int = 0
    overlap_bytes: int = 0
    skipped_bytes: int = 0

    def add(self, seq: int, payload: bytes, ts: float, syn: bool = False) -> list[Chunk]:
        """Add one segment; return what became deliverable, in order."""
        if syn:
            if self.next_seq is None:
                self.next_seq = (seq + 1) % SEQ_MOD
            seq = (seq + 1) % SEQ_MOD
        if not payload:
            return []
        if self.next_seq is None:
            self.next_seq = seq  # joined mid-stream: start where we are
        out: list[Chunk] = []
        ahead = seq_diff(seq, self.next_seq)
        if ahead > 0:
            self._hold(seq, payload, ts)
            if self.pending_bytes > self.limit:
                out += self._skip_hole()
            return out + self._drain()
        if ahead < 0:
            trim = -ahead
            self.overlap_bytes += min(trim, len(payload))
            if trim >= len(payload):
                return []
            payload = payload[trim:]
        out.append(self._deliver(payload, ts))
        return out + self._drain()

    def advance(self, size: int) -> list[Chunk]:
        """Count the next ``size`` bytes as passed without delivering them (the consumer
        did not need them); return what waiting segments became deliverable."""
        if size <= 0 or self.next_seq is None:
            return []
        self.next_seq = (self.next_seq + size) % SEQ_MOD
        self.skipped_bytes += size
        return self._drain()

    def flush(self) -> list[Chunk]:
        """The connection ended: deliver what waits behind holes, marking the holes."""
        out: list[Chunk] = []
        while self.pending:
            out += self._skip_hole()
            out += self._drain()
        return out

    def _hold(self, seq: int, payload: bytes, ts: float) -> None:
        held = self.pending.get(seq)
        if held is None or len(held[0]) < len(payload):
            self.pending_bytes += len(payload) - (len(held[0]) if held else 0)
            self.pending[seq] = (payload, ts)

    def _deliver(self, payload: bytes, ts: float) -> Chunk:
        assert self.next_seq is not None
        self.next_seq = (self.next_seq + len(payload)) % SEQ_MOD
        self.delivered += len(payload)
        return Chunk(data=payload, ts=ts)

    def _drain(self) -> list[Chunk]:
        out: list[Chunk] = []
        while self.pending and self.next_seq is not None:
            progressed = False
            for seq in list(self.pending):
                ahead = seq_diff(seq, self.next_seq)
                if ahead > 0:
                    continue
                payload, ts = self.pending.pop(seq)
                self.pending_bytes -= len(payload)
                if -ahead < len(payload):
                    self.overlap_bytes += -ahead
                    out.append(self._deliver(payload[-ahead:], ts))
                else:
                    self.overlap_bytes += len(payload)
                progressed = True
            if not progressed:
                break
        return out

    def _skip_hole(self) -> list[Chunk]:
        """Jump over the hole before the earliest waiting segment."""
        if not self.pending or self.next_seq is None:
            return []
        base = self.next_seq
        first = min(self.pending, key=lambda s: seq_diff(s, base))
        size = seq_diff(first, base)
        if size <= 0:
            return []
        self.gap_bytes += size
        self.next_seq = first
        return [Chunk(gap=size, ts=self.pending[first][1])]
