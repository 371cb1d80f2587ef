"""Test utility: the first payload each side of a replayed TCP connection sent."""

from __future__ import annotations

from net_replay import TcpConnection

from medsentry.protocols.base import ORIG, RESP


def first_payloads(conn: TcpConnection) -> tuple[bytes, bytes]:
    """(first client bytes, first server bytes); empty when that side sent nothing."""
    firsts = {ORIG: b"", RESP: b""}
    for op, direction, value, _ in conn.ops:
        if op == "data" and not firsts[direction]:
            firsts[direction] = value
    return firsts[ORIG], firsts[RESP]
