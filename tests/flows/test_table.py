from __future__ import annotations

from medsentry.capture.batch import PacketBatch
from medsentry.decode.packets import decode_batch
from medsentry.flows.export import to_records
from medsentry.flows.record import FlowRecord
from medsentry.flows.table import FlowTable, FlowTimeouts
from tests.packets import ACK, FIN, RST, SYN, eth_ipv4_tcp, ether, icmp, ipv4, udp

C, S = "10.0.0.1", "10.0.0.2"


def run(packets: list[tuple[float, bytes]], batch: int = 3, **timeouts: float) -> list[FlowRecord]:
    table = FlowTable(FlowTimeouts(**timeouts))
    out: list[FlowRecord] = []
    for k in range(0, len(packets), batch):
        part = packets[k : k + batch]
        b = PacketBatch.from_packets([p for _, p in part], [t for t, _ in part])
        _, closed = table.update(decode_batch(b))
        out += to_records(closed)
    return out + to_records(table.flush())


def handshake(t: float, sport: int = 40000) -> list[tuple[float, bytes]]:
    return [
        (t, eth_ipv4_tcp(C, S, sport, 80, SYN)),
        (
            t + 0.1,
            eth_ipv4_tcp(
                S, C, 80, sport, SYN | ACK, smac="02:00:00:00:00:02", dmac="02:00:00:00:00:01"
            ),
        ),
        (t + 0.2, eth_ipv4_tcp(C, S, sport, 80, ACK)),
        (t + 0.3, eth_ipv4_tcp(C, S, sport, 80, ACK, b"GET / HTTP/1.1\r\n\r\n")),
        (
            t + 0.4,
            eth_ipv4_tcp(
                S, C, 80, sport, ACK, b"HTTP/1.1 200 OK\r\n\r\n", smac="02:00:00:00:00:02"
            ),
        ),
    ]


def close(t: float, sport: int = 40000) -> list[tuple[float, bytes]]:
    return [
        (t, eth_ipv4_tcp(C, S, sport, 80, FIN | ACK)),
        (t + 0.1, eth_ipv4_tcp(S, C, 80, sport, FIN | ACK, smac="02:00:00:00:00:02")),
        (t + 0.2, eth_ipv4_tcp(C, S, sport, 80, ACK)),
    ]


def test_complete_connection_is_sf_with_zeek_history() -> None:
    (flow,) = run(handshake(100.0) + close(101.0))
    assert (flow.orig_h, flow.orig_p, flow.resp_h, flow.resp_p) == (C, 40000, S, 80)
    assert flow.conn_state == "SF"
    assert flow.history == "ShADdFf"  # the server never sent a bare ACK
    assert (flow.orig_pkts, flow.resp_pkts) == (5, 3)
    assert flow.orig_bytes == 18 and flow.resp_bytes == 19
    assert flow.orig_l2_addr == "02:00:00:00:00:01"
    assert flow.uid.startswith("C") and len(flow.uid) == 12


def test_states_for_rejected_and_unanswered() -> None:
    rej = run([(1.0, eth_ipv4_tcp(C, S, 1, 22, SYN)), (1.1, eth_ipv4_tcp(S, C, 22, 1, RST | ACK))])
    s0 = run([(1.0, eth_ipv4_tcp(C, S, 2, 23, SYN)), (2.0, eth_ipv4_tcp(C, S, 2, 23, SYN))])
    assert rej[0].conn_state == "REJ"
    assert s0[0].conn_state == "S0" and s0[0].orig_pkts == 2


def test_synack_first_flips_originator() -> None:
    (flow,) = run(
        [(1.0, eth_ipv4_tcp(S, C, 80, 40001, SYN | ACK)), (1.1, eth_ipv4_tcp(C, S, 40001, 80, ACK))]
    )
    assert flow.orig_h == C and flow.resp_p == 80
    assert flow.history.startswith("^")


def test_port_reuse_after_close_starts_a_new_flow() -> None:
    packets = handshake(10.0) + close(11.0) + handshake(12.0)
    flows = sorted(run(packets, batch=2), key=lambda f: f.ts)
    assert len(flows) == 2
    assert flows[0].conn_state == "SF" and flows[1].conn_state == "S1"
    assert flows[0].uid != flows[1].uid


def test_idle_timeout_splits_flows_across_batches() -> None:
    a = [
        (
            1.0,
            ether(
                "02:00:00:00:00:01",
                "02:00:00:00:00:02",
                0x0800,
                ipv4(C, S, 17, udp(5000, 53, b"q")),
            ),
        )
    ]
    b = [
        (
            500.0,
            ether(
                "02:00:00:00:00:01",
                "02:00:00:00:00:02",
                0x0800,
                ipv4(C, S, 17, udp(5000, 53, b"q")),
            ),
        )
    ]
    assert len(run(a + b, batch=1, udp=60.0)) == 2
    assert len(run(a + b, batch=1, udp=1000.0)) == 1


def test_icmp_echo_request_and_reply_are_one_flow() -> None:
    req = ether("02:00:00:00:00:01", "02:00:00:00:00:02", 0x0800, ipv4(C, S, 1, icmp(8)))
    rep = ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, ipv4(S, C, 1, icmp(0)))
    (flow,) = run([(1.0, req), (1.01, rep)])
    assert (flow.proto, flow.orig_p, flow.resp_p, flow.conn_state) == ("icmp", 8, 0, "SF")


def test_fragments_count_towards_their_flow() -> None:
    payload = udp(7000, 514, b"x" * 40)
    first = ipv4(C, S, 17, payload[:24], ident=77, frag=0x2000)
    second = ipv4(C, S, 17, payload[24:], ident=77, frag=2)  # offset 16 bytes
    frames = [ether("02:00:00:00:00:01", "02:00:00:00:00:02", 0x0800, p) for p in (first, second)]
    (flow,) = run([(1.0, frames[0]), (1.1, frames[1])], batch=1)
    assert flow.orig_pkts == 2 and flow.resp_p == 514


def test_table_memory_is_bounded() -> None:
    table = FlowTable(max_flows=50)
    packets = [eth_ipv4_tcp(C, S, 1000 + k, 80, SYN) for k in range(500)]
    b = PacketBatch.from_packets(packets, [1.0 + k * 1e-3 for k in range(500)])
    _, closed = table.update(decode_batch(b))
    assert len(table) <= 50
    assert len(closed) + len(table) == 500
