"""DHCPv4 (RFC 2131/2132) datagrams: one event per message.

``parse_dhcp`` turns one UDP payload into one event whose ``kind`` is the DHCP message
type in lower case (``discover``, ``offer``, ``request``, ``ack``, ``nak``, ``decline``,
``release``, ``inform``, ...), ``bootp`` for plain BOOTP, or ``malformed`` with a
``reason``. Fields favour what identifies a device: client MAC, hostname (12), vendor
class (60), the parameter request list (55) as a fingerprint string, client id (61),
MUD URL (161), FQDN (81) and the order of the options the client sent.
"""

from __future__ import annotations

import socket
from typing import Any

from medsentry.protocols.base import ProtocolEvent

PROTOCOL = "dhcp"
PORTS = (67, 68)

MAGIC_COOKIE = b"\x63\x82\x53\x63"
_FIXED = 236  # BOOTP header before the options / magic cookie

MESSAGE_TYPES = {
    1: "discover",
    2: "offer",
    3: "request",
    4: "decline",
    5: "ack",
    6: "nak",
    7: "release",
    8: "inform",
    9: "forcerenew",
    10: "leasequery",
    11: "leaseunassigned",
    12: "leaseunknown",
    13: "leaseactive",
    14: "bulkleasequery",
    15: "leasequerydone",
    16: "activeleasequery",
    17: "leasequerystatus",
    18: "tls",
}

# Options holding one or more IPv4 addresses, by the field name they get.
_ADDRESS_LISTS = {
    3: "routers",
    4: "time_servers",
    5: "name_servers",
    6: "dns_servers",
    42: "ntp_servers",
    44: "netbios_name_servers",
}
_ADDRESSES = {1: "subnet_mask", 50: "requested_addr", 54: "server_id"}
_TEXT = {
    12: "hostname",
    14: "merit_dump",
    15: "domain",
    40: "nis_domain",
    56: "message",
    60: "vendor_class",
    66: "tftp_server",
    67: "bootfile",
    100: "posix_tz",
    101: "tz_name",
    161: "mud_url",
}
_U32 = {51: "lease_time", 58: "renewal_time", 59: "rebinding_time"}
_MAX_TEXT = 255  # an option value is at most 255 bytes anyway


class _Malformed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _BadOption(Exception):
    """One option's value does not fit its definition; the others still count."""


def _ip(raw: bytes) -> str:
    return socket.inet_ntoa(raw)


def _mac(raw: bytes) -> str:
    return raw.hex(":")


def _text(raw: bytes) -> str:
    # RFC 2132 options are not NUL-terminated, but some clients add one ("nas1\0")
    return raw[:_MAX_TEXT].rstrip(b"\x00").decode("utf-8", errors="replace")


def _options(data: bytes, start: int, end: int) -> tuple[list[tuple[int, bytes]], bool]:
    """Options between ``start`` and ``end`` (stops at END, 255), and whether one ran
    past ``end``; the options before that one are kept."""
    out: list[tuple[int, bytes]] = []
    pos = start
    while pos < end:
        code = data[pos]
        if code == 255:
            break
        if code == 0:
            pos += 1
            continue
        if pos + 1 >= end or pos + 2 + data[pos + 1] > end:
            return out, True
        length = data[pos + 1]
        out.append((code, data[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return out, False


def _fqdn(value: bytes) -> str:
    """Option 81 domain: ASCII, or DNS wire format when the E flag is set (RFC 4702)."""
    if len(value) < 3:
        raise _BadOption
    name = value[3:]
    if not value[0] & 0x04:
        return _text(name)
    labels = []
    pos = 0
    while pos < len(name) and name[pos]:
        size = name[pos]
        labels.append(_text(name[pos + 1 : pos + 1 + size]))
        pos += 1 + size
    return ".".join(labels)


def _apply_option(code: int, value: bytes, f: dict[str, Any]) -> None:
    if code in _ADDRESSES:
        if len(value) != 4:
            raise _BadOption
        f[_ADDRESSES[code]] = _ip(value)
    elif code in _ADDRESS_LISTS:
        if not value or len(value) % 4:
            raise _BadOption
        f[_ADDRESS_LISTS[code]] = [_ip(value[i : i + 4]) for i in range(0, len(value), 4)]
    elif code in _TEXT:
        f[_TEXT[code]] = _text(value)
    elif code in _U32:
        if len(value) != 4:
            raise _BadOption
        f[_U32[code]] = int.from_bytes(value, "big")
    elif code == 2 and len(value) == 4:
        f["time_offset"] = int.from_bytes(value, "big", signed=True)
    elif code == 55:
        f["param_request_list"] = ",".join(str(b) for b in value)
    elif code == 57 and len(value) == 2:
        f["max_message_size"] = int.from_bytes(value, "big")
    elif code == 61 and value:
        f["client_id_type"] = value[0]
        # type 1: a hardware address follows; 255: IAID + DUID (RFC 4361); 0: free form
        f["client_id"] = _mac(value[1:])
    elif code == 77:
        f["user_class"] = _user_classes(value)
    elif code == 81:
        f["client_fqdn"] = _fqdn(value)
    elif code == 33:
        if not value or len(value) % 8:
            raise _BadOption
        f["static_routes"] = [
            {"destination": _ip(value[i : i + 4]), "router": _ip(value[i + 4 : i + 8])}
            for i in range(0, len(value), 8)
        ]
    elif code == 82:
        suboptions, overrun = _options(value, 0, len(value))
        if overrun:
            raise _BadOption
        f["relay_agent_info"] = True
        f["relay_agent_suboptions"] = [c for c, _ in suboptions]


def _user_classes(value: bytes) -> list[str]:
    """RFC 3004 user classes (length-prefixed instances); older clients send plain text."""
    out: list[str] = []
    pos = 0
    while pos < len(value):
        size = value[pos]
        if size == 0 or pos + 1 + size > len(value):
            return [_text(value)]
        out.append(_text(value[pos + 1 : pos + 1 + size]))
        pos += 1 + size
    return out


def _header(payload: bytes) -> dict[str, Any]:
    op, htype, hlen, hops = payload[0], payload[1], payload[2], payload[3]
    if op not in (1, 2):
        raise _Malformed("invalid_op")
    if hlen > 16:
        raise _Malformed("invalid_hlen")
    chaddr = payload[28 : 28 + hlen]
    return {
        "op": "request" if op == 1 else "reply",
        "xid": int.from_bytes(payload[4:8], "big"),
        "hops": hops,
        "secs": int.from_bytes(payload[8:10], "big"),
        "broadcast": bool(payload[10] & 0x80),
        "client_addr": _ip(payload[12:16]),
        "assigned_addr": _ip(payload[16:20]),
        "next_server": _ip(payload[20:24]),
        "relay_addr": _ip(payload[24:28]),
        "htype": htype,
        "client_mac": _mac(chaddr),
    }


def parse_dhcp(payload: bytes, ts: float, uid: str, direction: int) -> list[ProtocolEvent]:
    """One DHCP/BOOTP datagram -> one event (never raises on malformed input)."""
    fields: dict[str, Any] = {}
    try:
        if len(payload) < _FIXED:
            raise _Malformed("truncated")
        fields = _header(payload)
        if payload[_FIXED : _FIXED + 4] != MAGIC_COOKIE:
            return [ProtocolEvent(ts, uid, PROTOCOL, "bootp", direction, fields)]
        options, overrun = _options(payload, _FIXED + 4, len(payload))
        overload = next((v for c, v in options if c == 52), b"")
        if overload and overload[0] & 1:  # options continue in the "file" field
            more, overrun_file = _options(payload, 108, 236)
            options, overrun = options + more, overrun or overrun_file
        if overload and overload[0] & 2:  # ... and in "sname"
            more, overrun_sname = _options(payload, 44, 108)
            options, overrun = options + more, overrun or overrun_sname
        fields["options"] = [code for code, _ in options]
        for code, value in options:
            try:
                _apply_option(code, value, fields)
            except _BadOption:
                fields.setdefault("bad_options", []).append(code)
        msg_type = next((v[0] for c, v in options if c == 53 and len(v) == 1), None)
        if msg_type is not None:
            fields["msg_type"] = msg_type
        if overrun:
            raise _Malformed("truncated_option")
    except _Malformed as exc:
        fields["reason"] = exc.reason
        return [ProtocolEvent(ts, uid, PROTOCOL, "malformed", direction, fields)]
    if msg_type is None:
        return [ProtocolEvent(ts, uid, PROTOCOL, "bootp", direction, fields)]
    kind = MESSAGE_TYPES.get(msg_type, "unknown_type")
    return [ProtocolEvent(ts, uid, PROTOCOL, kind, direction, fields)]
