"""Generate the benchmark capture: ~1,000,000 packets of mixed, hospital-like traffic.

Reproducible (seeded). Traffic: many short TCP connections with handshakes and
teardowns (HTTP-like, database, HL7/MLLP-like, DICOM-like bulk transfers), long-lived
TCP sessions, UDP request/response (DNS, NTP, syslog) and UDP streams (telemetry),
some ICMP. Packet sizes follow the usual bimodal shape (ACK-sized and MTU-sized). The
packets are built with numpy, not one Python object per packet, so a million take a
few seconds to write.

    python bench/generate_capture.py out.pcap --packets 1000000 --seed 7
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ETH = 14
IP = 20
TCP = 20
UDP = 8
ICMP = 8

SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08


def _client_hello(server_name: bytes) -> bytes:
    """A minimal TLS 1.2 ClientHello with SNI (built here, field by field)."""
    sni = b"\x00" + len(server_name).to_bytes(2, "big") + server_name
    sni_ext = b"\x00\x00" + (len(sni) + 2).to_bytes(2, "big") + len(sni).to_bytes(2, "big") + sni
    body = (
        b"\x03\x03" + bytes(range(32)) + b"\x00"
        + b"\x00\x04\xc0\x2f\xc0\x30" + b"\x01\x00"
        + len(sni_ext).to_bytes(2, "big") + sni_ext
    )  # fmt: skip
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def _server_hello() -> bytes:
    body = b"\x03\x03" + bytes(range(32, 64)) + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\x00\x00"
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(hs).to_bytes(2, "big") + hs


CHANGE_CIPHER_SPEC = b"\x14\x03\x03\x00\x01\x01"

# The first payload of each side of a connection, per service, so the protocol analyzers
# do real work on the benchmark (no patient data: device and message identifiers only).
OPENERS: dict[tuple[int, bool], bytes] = {
    (80, False): b"GET /fhir/Device/pump-17 HTTP/1.1\r\nHost: ehr.example\r\n"
    b"Accept: application/fhir+json\r\nUser-Agent: infusion-gw/2.1\r\n\r\n",
    (80, True): b"HTTP/1.1 200 OK\r\nServer: fhir-srv\r\nContent-Type: application/fhir+json"
    b"\r\nContent-Length: 1000000\r\n\r\n",
    (2575, False): b"\x0bMSH|^~\\&|MON|ICU|EHR|HOSP|20250101120000||ORU^R01|MSG0001|P|2.5\r"
    b"OBX|1|NM|8867-4^HR^LN||72|/min|||||F|||||MON-01^PHILIPS\r\x1c\r",
    (2575, True): b"\x0bMSH|^~\\&|EHR|HOSP|MON|ICU|20250101120001||ACK^R01|ACK1|P|2.5\r"
    b"MSA|AA|MSG0001\r\x1c\r",
    # TLS: each side's hello then ChangeCipherSpec; what follows is encrypted.
    (443, False): _client_hello(b"pacs.hospital.example") + CHANGE_CIPHER_SPEC,
    (443, True): _server_hello() + CHANGE_CIPHER_SPEC,
}
OPENERS[(8080, False)], OPENERS[(8080, True)] = OPENERS[(80, False)], OPENERS[(80, True)]
OPENERS[(6661, False)], OPENERS[(6661, True)] = OPENERS[(2575, False)], OPENERS[(2575, True)]


@dataclass
class Packets:
    ts: npt.NDArray[np.float64]
    src: npt.NDArray[np.int64]  # host index
    dst: npt.NDArray[np.int64]
    sport: npt.NDArray[np.int64]
    dport: npt.NDArray[np.int64]
    proto: npt.NDArray[np.int64]
    flags: npt.NDArray[np.int64]
    payload: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    opener: npt.NDArray[np.int64]  # index into OPENER_LIST + 1 for first payloads, else 0


OPENER_LIST = list(OPENERS.items())


def _tcp_flows(rng: np.random.Generator, n_flows: int, hosts: int, span: float) -> Packets:
    """TCP connections: handshake, data both ways, FIN teardown."""
    client = rng.integers(0, hosts, n_flows)
    server = (client + rng.integers(1, hosts, n_flows)) % hosts
    service = rng.choice(
        [80, 443, 2575, 104, 5432, 8080, 1433, 6661],
        n_flows,
        p=[0.3, 0.25, 0.1, 0.05, 0.1, 0.1, 0.05, 0.05],
    )
    sport = rng.integers(32768, 61000, n_flows)
    # Data packets per connection: heavy tailed (most short, a few bulk transfers).
    data = np.minimum(rng.lognormal(2.2, 1.1, n_flows).astype(np.int64), 3000)
    count = data + 7  # SYN, SYN-ACK, ACK, data..., FIN, ACK, FIN, ACK
    start = rng.uniform(0, span, n_flows)
    flow = np.repeat(np.arange(n_flows), count)
    pos = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    last = count[flow] - 1
    gap = rng.exponential(0.004, len(flow))
    ts = start[flow] + np.cumsum(gap) - np.repeat(np.cumsum(gap)[np.cumsum(count) - count], count)
    # Direction: handshake fixed, data alternating in bursts, teardown both ways.
    from_server = np.zeros(len(flow), bool)
    from_server[pos == 1] = True
    is_data = (pos >= 3) & (pos < last - 3)
    from_server[is_data] = rng.random(is_data.sum()) < 0.55
    from_server[pos == last - 2] = True  # server FIN
    from_server[pos == last - 1] = False  # ACK to it
    from_server[pos == last - 3] = False  # client FIN
    from_server[pos == last] = True
    flags = np.full(len(flow), ACK)
    flags[pos == 0] = SYN
    flags[pos == 1] = SYN | ACK
    flags[is_data] = ACK | PSH
    flags[(pos == last - 3) | (pos == last - 2)] = FIN | ACK
    size = np.where(rng.random(len(flow)) < 0.5, 1460, rng.integers(60, 1460, len(flow)))
    payload = np.where(is_data, size, 0)
    # The first data packet of each side opens the conversation for its service.
    side_key = flow * 2 + from_server
    order = np.flatnonzero(is_data)
    _, first_idx = np.unique(side_key[order], return_index=True)
    firsts = order[first_idx]
    opener = np.zeros(len(flow), np.int64)
    for k, ((port, server_side), text) in enumerate(OPENER_LIST):
        hit = firsts[(service[flow[firsts]] == port) & (from_server[firsts] == server_side)]
        opener[hit] = k + 1
        payload[hit] = np.maximum(payload[hit], len(text))
    c, s = client[flow], server[flow]
    # Sequence numbers: a random initial number per direction, advanced by the payload
    # (and by one for SYN and FIN), as a real stack does.
    side = flow * 2 + from_server
    consumed = payload + ((flags & (SYN | FIN)) != 0)
    order = np.argsort(side, kind="stable")
    cum = np.cumsum(consumed[order])
    first = np.r_[True, side[order][1:] != side[order][:-1]]
    base = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    before = cum - consumed[order] - (cum[base] - consumed[order][base])
    seq = np.empty(len(flow), np.int64)
    seq[order] = before
    isn = rng.integers(0, 2**32, n_flows * 2)
    return Packets(
        ts=ts,
        src=np.where(from_server, s, c),
        dst=np.where(from_server, c, s),
        sport=np.where(from_server, service[flow], sport[flow]),
        dport=np.where(from_server, sport[flow], service[flow]),
        proto=np.full(len(flow), 6),
        flags=flags,
        payload=payload,
        seq=(isn[side] + seq) % 2**32,
        opener=opener,
    )


def _udp_flows(rng: np.random.Generator, n_flows: int, hosts: int, span: float) -> Packets:
    """UDP: request/response pairs (DNS, NTP) and one-way telemetry streams."""
    client = rng.integers(0, hosts, n_flows)
    server = (client + rng.integers(1, hosts, n_flows)) % hosts
    service = rng.choice([53, 123, 514, 5353, 9000], n_flows, p=[0.5, 0.1, 0.15, 0.05, 0.2])
    stream = service == 9000
    count = np.where(stream, rng.integers(20, 400, n_flows), 2)
    start = rng.uniform(0, span, n_flows)
    flow = np.repeat(np.arange(n_flows), count)
    pos = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    interval = np.where(stream, 0.05, 0.002)[flow]
    ts = start[flow] + pos * interval
    reply = ~stream[flow] & (pos == 1)
    sport = rng.integers(1024, 65535, n_flows)[flow]
    c, s = client[flow], server[flow]
    size = np.where(
        stream[flow], rng.integers(40, 300, len(flow)), rng.integers(30, 480, len(flow))
    )
    return Packets(
        ts=ts,
        src=np.where(reply, s, c),
        dst=np.where(reply, c, s),
        sport=np.where(reply, service[flow], sport),
        dport=np.where(reply, sport, service[flow]),
        proto=np.full(len(flow), 17),
        flags=np.zeros(len(flow), np.int64),
        payload=size,
        seq=np.zeros(len(flow), np.int64),
        opener=np.zeros(len(flow), np.int64),
    )


def _icmp(rng: np.random.Generator, n: int, hosts: int, span: float) -> Packets:
    pairs = n // 2
    a = rng.integers(0, hosts, pairs)
    b = (a + rng.integers(1, hosts, pairs)) % hosts
    t = rng.uniform(0, span, pairs)
    return Packets(
        ts=np.concatenate([t, t + 0.0005]),
        src=np.concatenate([a, b]),
        dst=np.concatenate([b, a]),
        sport=np.concatenate([np.full(pairs, 8), np.zeros(pairs, np.int64)]),
        dport=np.zeros(2 * pairs, np.int64),
        proto=np.full(2 * pairs, 1),
        flags=np.zeros(2 * pairs, np.int64),
        payload=np.full(2 * pairs, 56),
        seq=np.zeros(2 * pairs, np.int64),
        opener=np.zeros(2 * pairs, np.int64),
    )


def _concat(parts: list[Packets]) -> Packets:
    return Packets(
        **{k: np.concatenate([getattr(p, k) for p in parts]) for k in Packets.__annotations__}
    )


def generate(n_packets: int, seed: int, hosts: int = 2000, span: float = 600.0) -> Packets:
    rng = np.random.default_rng(seed)
    # Calibrated so the mix lands near the requested packet count.
    tcp = _tcp_flows(rng, max(1, int(n_packets * 0.78 / 27)), hosts, span)
    udp = _udp_flows(rng, max(1, int(n_packets * 0.2 / 11)), hosts, span)
    icmp = _icmp(rng, max(2, int(n_packets * 0.02)), hosts, span)
    allp = _concat([tcp, udp, icmp])
    order = np.argsort(allp.ts, kind="stable")[:n_packets]
    return Packets(**{k: getattr(allp, k)[order] for k in Packets.__annotations__})


def write_pcap(p: Packets, path: Path, base_ts: float = 1_760_000_000.0) -> int:
    """Serialise the packets as an Ethernet pcap; returns the file size."""
    n = len(p.ts)
    l4 = np.where(p.proto == 6, TCP, np.where(p.proto == 17, UDP, ICMP))
    length = ETH + IP + l4 + p.payload
    rec = 16 + length
    offsets = np.zeros(n, np.int64)
    offsets[1:] = np.cumsum(rec)[:-1]
    offsets += 24
    buf = np.zeros(24 + int(rec.sum()), np.uint8)
    buf[:24] = np.frombuffer(
        np.array([0xA1B2C3D4], "<u4").tobytes()
        + np.array([2, 4], "<u2").tobytes()
        + np.zeros(2, "<u4").tobytes()
        + np.array([262144, 1], "<u4").tobytes(),
        np.uint8,
    )
    ts = base_ts + p.ts

    def put(
        pos: npt.NDArray[np.int64], values: npt.NDArray[np.int64], width: int, big: bool
    ) -> None:
        v = values.astype(np.uint64)
        for k in range(width):
            shift = 8 * (width - 1 - k) if big else 8 * k
            buf[pos + k] = ((v >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.uint8)

    sec = np.floor(ts).astype(np.int64)
    put(offsets, sec, 4, False)
    put(offsets + 4, ((ts - sec) * 1e6).astype(np.int64), 4, False)
    put(offsets + 8, length, 4, False)
    put(offsets + 12, length, 4, False)
    e = offsets + 16
    # MACs: 02:00:00 (locally administered) + host index; IPs 10.x.y.z.
    put(e, 0x020000000000 + p.dst, 6, True)
    put(e + 6, 0x020000000000 + p.src, 6, True)
    put(e + 12, np.full(n, 0x0800), 2, True)
    ip = e + ETH
    buf[ip] = 0x45
    put(ip + 2, IP + l4 + p.payload, 2, True)
    put(ip + 4, np.arange(n) & 0xFFFF, 2, True)
    buf[ip + 8] = 64
    buf[ip + 9] = p.proto.astype(np.uint8)
    put(ip + 12, 0x0A000000 + p.src, 4, True)
    put(ip + 16, 0x0A000000 + p.dst, 4, True)
    t = ip + IP
    tcp = p.proto == 6
    udp = p.proto == 17
    icmp = p.proto == 1
    put(t[tcp | udp], p.sport[tcp | udp], 2, True)
    put(t[tcp | udp] + 2, p.dport[tcp | udp], 2, True)
    put(t[tcp] + 4, p.seq[tcp], 4, True)
    put(t[tcp] + 8, np.where((p.flags[tcp] & ACK) != 0, 1, 0), 4, True)
    buf[t[tcp] + 12] = 0x50
    buf[t[tcp] + 13] = p.flags[tcp].astype(np.uint8)
    put(t[tcp] + 14, np.full(int(tcp.sum()), 65535), 2, True)
    put(t[udp] + 4, UDP + p.payload[udp], 2, True)
    buf[t[icmp]] = p.sport[icmp].astype(np.uint8)
    start = t + np.where(tcp, TCP, np.where(udp, UDP, ICMP))
    for k, (_, text) in enumerate(OPENER_LIST):
        where = start[p.opener == k + 1]
        if len(where):
            buf[where[:, None] + np.arange(len(text))] = np.frombuffer(text, np.uint8)
    path.write_bytes(buf.tobytes())
    return len(buf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    packets = generate(args.packets, args.seed)
    size = write_pcap(packets, args.out)
    print(f"wrote {len(packets.ts):,} packets, {size / 1e6:.1f} MB to {args.out}")


if __name__ == "__main__":
    main()
