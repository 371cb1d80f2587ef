"""DNS messages (RFC 1035) over UDP and TCP.

``parse_dns`` turns one UDP payload into one event: ``kind`` is ``query`` or
``response`` (from the QR bit), or ``malformed`` with a ``reason``. ``DnsTcpAnalyzer``
reads the 2-byte length-prefixed messages of DNS over TCP and uses the same parser.

Names are decompressed with loop protection: a compression pointer must point before
the name that uses it, at most ``MAX_POINTERS`` are followed, and a name is at most 255
bytes. TXT record contents are not kept (they can carry anything): only their lengths.
"""

from __future__ import annotations

import socket
from typing import Any

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent

PROTOCOL = "dns"
PORTS = (53, 5353, 5355)  # DNS, mDNS, LLMNR share the message format

MAX_POINTERS = 64
MAX_NAME = 255
MAX_RECORDS = 256  # per section; the rest are counted, not decoded

OPCODES = {0: "query", 1: "iquery", 2: "status", 4: "notify", 5: "update", 6: "dso"}
RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}
TYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    35: "NAPTR",
    39: "DNAME",
    41: "OPT",
    43: "DS",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    257: "CAA",
}
_NAME_TYPES = {2, 5, 12, 39}  # NS, CNAME, PTR, DNAME: rdata is one name


class _Malformed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _name(msg: bytes, pos: int) -> tuple[str, int]:
    """Read a possibly compressed name at ``pos``; return it and the offset after it."""
    labels: list[str] = []
    size = 0
    end: int | None = None  # where the name ends in the record, before any jump
    jumps = 0
    floor = pos  # a pointer must go strictly before every name part read so far
    while True:
        if pos >= len(msg):
            raise _Malformed("truncated")
        length = msg[pos]
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= len(msg):
                raise _Malformed("truncated")
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            if target >= floor or jumps > MAX_POINTERS:
                raise _Malformed("bad_pointer")
            if end is None:
                end = pos + 2
            pos = floor = target
            continue
        if kind:
            raise _Malformed("bad_label")
        if length == 0:
            return ".".join(labels), end if end is not None else pos + 1
        if pos + 1 + length > len(msg):
            raise _Malformed("truncated")
        size += length + 1
        if size > MAX_NAME:
            raise _Malformed("name_too_long")
        labels.append(msg[pos + 1 : pos + 1 + length].decode("ascii", errors="backslashreplace"))
        pos += 1 + length


def _u16(msg: bytes, pos: int) -> int:
    if pos + 2 > len(msg):
        raise _Malformed("truncated")
    return (msg[pos] << 8) | msg[pos + 1]


def _rdata(msg: bytes, rtype: int, start: int, end: int, rec: dict[str, Any]) -> None:
    rdata = msg[start:end]
    if rtype == 1 and len(rdata) == 4:
        rec["data"] = socket.inet_ntoa(rdata)
    elif rtype == 28 and len(rdata) == 16:
        rec["data"] = socket.inet_ntop(socket.AF_INET6, rdata)
    elif rtype in _NAME_TYPES:
        rec["data"] = _name(msg, start)[0]
    elif rtype == 15:
        rec["data"] = f"{_u16(msg, start)} {_name(msg, start + 2)[0]}"
    elif rtype == 33 and len(rdata) >= 7:
        prio, weight, port = _u16(msg, start), _u16(msg, start + 2), _u16(msg, start + 4)
        rec["data"] = f"{prio} {weight} {port} {_name(msg, start + 6)[0]}"
    elif rtype == 6:
        mname, pos = _name(msg, start)
        rname, pos = _name(msg, pos)
        if pos + 20 > end:
            raise _Malformed("truncated")
        serial = int.from_bytes(msg[pos : pos + 4], "big")
        rec["data"] = f"{mname} {rname} {serial}"
    elif rtype in (16, 99):  # TXT/SPF: lengths of the strings, never their text
        lengths, pos = [], 0
        while pos < len(rdata):
            lengths.append(rdata[pos])
            pos += 1 + rdata[pos]
        if pos != len(rdata):
            raise _Malformed("truncated")
        rec["txt_lengths"] = lengths


def _record(msg: bytes, pos: int) -> tuple[dict[str, Any], int]:
    name, pos = _name(msg, pos)
    if pos + 10 > len(msg):
        raise _Malformed("truncated")
    rtype, rclass = _u16(msg, pos), _u16(msg, pos + 2)
    ttl = int.from_bytes(msg[pos + 4 : pos + 8], "big")
    rdlength = _u16(msg, pos + 8)
    start, end = pos + 10, pos + 10 + rdlength
    if end > len(msg):
        raise _Malformed("truncated")
    rec: dict[str, Any] = {"name": name, "type": rtype, "type_name": TYPES.get(rtype, str(rtype))}
    if rtype == 41:  # EDNS(0) OPT pseudo-record: class is the UDP size, TTL the flags
        rec.update(udp_size=rclass, edns_version=(ttl >> 16) & 0xFF, dnssec_ok=bool(ttl & 0x8000))
    else:
        rec.update({"class": rclass, "ttl": ttl, "rdlength": rdlength})
        _rdata(msg, rtype, start, end, rec)
    return rec, end


def _header(msg: bytes) -> dict[str, Any]:
    flags = _u16(msg, 2)
    opcode, rcode = (flags >> 11) & 0x0F, flags & 0x0F
    return {
        "id": _u16(msg, 0),
        "opcode": opcode,
        "opcode_name": OPCODES.get(opcode, str(opcode)),
        "rcode": rcode,
        "rcode_name": RCODES.get(rcode, str(rcode)),
        "aa": bool(flags & 0x0400),
        "tc": bool(flags & 0x0200),
        "rd": bool(flags & 0x0100),
        "ra": bool(flags & 0x0080),
        "ad": bool(flags & 0x0020),
        "cd": bool(flags & 0x0010),
        "qdcount": _u16(msg, 4),
        "ancount": _u16(msg, 6),
        "nscount": _u16(msg, 8),
        "arcount": _u16(msg, 10),
    }


def _body(msg: bytes, f: dict[str, Any]) -> None:
    pos = 12
    questions: list[dict[str, Any]] = []
    f["questions"] = questions
    for _ in range(min(f["qdcount"], MAX_RECORDS)):
        name, pos = _name(msg, pos)
        qtype, qclass = _u16(msg, pos), _u16(msg, pos + 2)
        pos += 4
        questions.append(
            {
                "name": name,
                "type": qtype,
                "type_name": TYPES.get(qtype, str(qtype)),
                "class": qclass,
            }
        )
    if questions:
        f["query"] = questions[0]["name"]
        f["qtype"] = questions[0]["type"]
        f["qtype_name"] = questions[0]["type_name"]
    if f["qdcount"] > MAX_RECORDS:
        f["records_truncated"] = True
        return
    for section, count in (
        ("answers", "ancount"),
        ("authority", "nscount"),
        ("additional", "arcount"),
    ):
        records: list[dict[str, Any]] = []
        f[section] = records
        for i in range(f[count]):
            if i == MAX_RECORDS:
                f["records_truncated"] = True
                return
            rec, pos = _record(msg, pos)
            if rec["type"] == 41:
                f["edns"] = {k: rec[k] for k in ("udp_size", "edns_version", "dnssec_ok")}
            else:
                records.append(rec)


def parse_dns(payload: bytes, ts: float, uid: str, direction: int) -> list[ProtocolEvent]:
    """One DNS message -> one event (never raises on malformed input)."""
    if len(payload) < 12:
        fields: dict[str, Any] = {"reason": "truncated_header"}
        return [ProtocolEvent(ts, uid, PROTOCOL, "malformed", direction, fields)]
    fields = _header(payload)
    kind = "response" if payload[2] & 0x80 else "query"
    try:
        _body(payload, fields)
    except _Malformed as exc:
        fields["reason"] = exc.reason
        fields["qr"] = kind
        return [ProtocolEvent(ts, uid, PROTOCOL, "malformed", direction, fields)]
    return [ProtocolEvent(ts, uid, PROTOCOL, kind, direction, fields)]


def looks_like_dns(payload: bytes) -> bool:
    """A cheap check that a UDP payload could be a DNS query."""
    if len(payload) < 17 or payload[2] & 0x80 or (payload[2] >> 3) & 0x0F not in OPCODES:
        return False
    return _u16(payload, 4) == 1 and _u16(payload, 6) == 0 and _u16(payload, 8) == 0


class DnsTcpAnalyzer:
    """DNS over TCP: each message has a 2-byte length prefix (RFC 1035 §4.2.2).

    After a gap the framing of that direction cannot be trusted, so it is not read
    any further (DNS/TCP connections are short: a query or a zone transfer).
    """

    protocol = PROTOCOL

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._buf = [bytearray(), bytearray()]
        self._lost = [False, False]

    def feed(self, direction: int, data: bytes, ts: float) -> list[ProtocolEvent]:
        d = RESP if direction else ORIG
        if self._lost[d]:
            return []
        buf = self._buf[d]
        buf += data
        events: list[ProtocolEvent] = []
        pos = 0
        while len(buf) - pos >= 2:
            size = (buf[pos] << 8) | buf[pos + 1]
            if len(buf) - pos - 2 < size:
                break
            events += parse_dns(bytes(buf[pos + 2 : pos + 2 + size]), ts, self.uid, d)
            pos += 2 + size
        del buf[:pos]
        return events

    def gap(self, direction: int, size: int, ts: float) -> list[ProtocolEvent]:
        d = RESP if direction else ORIG
        self._buf[d].clear()
        self._lost[d] = True
        return []

    def close(self, ts: float) -> list[ProtocolEvent]:
        events = []
        for d in (ORIG, RESP):
            if self._buf[d] and not self._lost[d]:
                fields = {"reason": "incomplete_frame"}
                events.append(ProtocolEvent(ts, self.uid, PROTOCOL, "malformed", d, fields))
            self._buf[d].clear()
        return events

    def buffered_bytes(self) -> int:
        return len(self._buf[ORIG]) + len(self._buf[RESP])
