"""From flow columns to Zeek conn.log records: state, history, uid, text addresses."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medsentry.decode.addresses import ip_texts, mac_texts
from medsentry.decode.columns import PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP
from medsentry.flows.record import FlowRecord
from medsentry.flows.table import (
    EV_FIN,
    EV_RST,
    EV_SYN,
    EV_SYNACK,
    EVENTS,
    N_EV,
    FlowColumns,
)

PROTO_NAMES = {
    PROTO_TCP: "tcp",
    PROTO_UDP: "udp",
    PROTO_ICMP: "icmp",
    PROTO_ICMPV6: "icmp",
    2: "igmp",
    47: "gre",
    50: "esp",
    51: "ah",
    89: "ospf",
    103: "pim",
    112: "vrrp",
    132: "sctp",
}

_BASE62 = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)
UID_DIGITS = 11  # 62**11 > 2**64


def uid_texts(uids: npt.NDArray[np.uint64]) -> list[str]:
    """Zeek-style connection ids ("C" + base62), computed for all flows at once."""
    n = len(uids)
    if not n:
        return []
    digits = np.empty((n, UID_DIGITS + 1), np.uint8)
    digits[:, 0] = ord("C")
    rest = uids.copy()
    for k in range(UID_DIGITS, 0, -1):
        digits[:, k] = _BASE62[(rest % np.uint64(62)).astype(np.int64)]
        rest //= np.uint64(62)
    return digits.view(f"S{UID_DIGITS + 1}").reshape(-1).astype(str).tolist()


def conn_states(c: FlowColumns) -> list[str]:
    """Zeek ``conn_state`` from which handshake and teardown events each side sent."""
    seen = np.isfinite(c.ev_ts)  # (n, 2, N_EV)
    o, r = seen[:, 0, :], seen[:, 1, :]
    tcp = c.proto == PROTO_TCP
    syn, synack = o[:, EV_SYN], r[:, EV_SYNACK]
    est = syn & synack
    state = np.full(len(c), "OTH", dtype="<U6")
    # Non-TCP: a reply makes the exchange complete.
    state[~tcp] = np.where(c.pkts[~tcp, 1] > 0, "SF", "S0")
    conds = [
        (tcp & est & o[:, EV_RST], "RSTO"),
        (tcp & est & r[:, EV_RST], "RSTR"),
        (tcp & est & o[:, EV_FIN] & r[:, EV_FIN], "SF"),
        (tcp & est & o[:, EV_FIN], "S2"),
        (tcp & est & r[:, EV_FIN], "S3"),
        (tcp & est, "S1"),
        (tcp & syn & r[:, EV_RST], "REJ"),
        (tcp & syn & o[:, EV_RST], "RSTOS0"),
        (tcp & syn & o[:, EV_FIN], "SH"),
        (tcp & syn, "S0"),
        (tcp & synack & r[:, EV_RST], "RSTRH"),
        (tcp & synack & r[:, EV_FIN], "SHR"),
    ]
    decided = ~tcp
    for cond, name in conds:
        take = cond & ~decided
        state[take] = name
        decided |= take
    return state.tolist()


def histories(c: FlowColumns) -> list[str]:
    """Zeek ``history``: one letter per event and side, in the order first seen."""
    n = len(c)
    if not n:
        return []
    times = c.ev_ts.reshape(n, 2 * N_EV)
    letters = np.array(list(EVENTS) + list(EVENTS.lower()))
    order = np.argsort(times, axis=1, kind="stable")
    present = np.isfinite(np.take_along_axis(times, order, axis=1))
    chosen = np.where(present, letters[order], "")
    out = ["".join(row) for row in chosen.tolist()]
    flipped = c.flipped.tolist()
    is_tcp = (c.proto == PROTO_TCP).tolist()
    return [
        ("^" + h if f else h) if t else h.replace("A", "").replace("a", "")
        for h, f, t in zip(out, flipped, is_tcp, strict=True)
    ]


def to_records(c: FlowColumns) -> list[FlowRecord]:
    """Closed flows as records (one Python object per flow, so only at the edges)."""
    n = len(c)
    if not n:
        return []
    orig_h = ip_texts(c.orig_hi, c.orig_lo)
    resp_h = ip_texts(c.resp_hi, c.resp_lo)
    uids = uid_texts(c.uid)
    states = conn_states(c)
    hist = histories(c)
    l2o = mac_texts(c.l2[:, 0])
    l2r = mac_texts(c.l2[:, 1])
    protos = [PROTO_NAMES.get(p, str(p)) for p in c.proto.tolist()]
    duration = (c.last_ts - c.first_ts).tolist()
    first = c.first_ts.tolist()
    op, rp = c.orig_p.tolist(), c.resp_p.tolist()
    pk, ipb, by = c.pkts.tolist(), c.ip_bytes.tolist(), c.bytes.tolist()
    vlan = c.vlan.tolist()
    return [
        FlowRecord(
            ts=first[i],
            uid=uids[i],
            orig_h=orig_h[i],
            orig_p=op[i],
            resp_h=resp_h[i],
            resp_p=rp[i],
            proto=protos[i],
            duration=duration[i],
            orig_bytes=by[i][0],
            resp_bytes=by[i][1],
            conn_state=states[i],
            history=hist[i],
            orig_pkts=pk[i][0],
            resp_pkts=pk[i][1],
            orig_ip_bytes=ipb[i][0],
            resp_ip_bytes=ipb[i][1],
            orig_l2_addr=l2o[i],
            resp_l2_addr=l2r[i],
            vlan=vlan[i] or None,
        )
        for i in range(n)
    ]
