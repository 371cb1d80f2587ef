"""MQTT 3.1, 3.1.1 and 5.0 over TCP: one analyzer per connection.

Each direction's reassembled bytes are cut into control packets (fixed header:
type/flags byte + variable-length "remaining length"), and each packet becomes one
``ProtocolEvent`` whose ``kind`` is the packet type in lower case (``connect``,
``connack``, ``publish``, ...). Broken packets become ``kind="malformed"`` events with a
``reason`` (see ``mqtt_codes.Malformation``); out-of-order sessions become
``kind="anomaly"`` events (``mqtt_codes.Anomaly``). The analyzer never raises on input.

Secrets and patient data stay out: passwords, publish and will payloads, authentication
data, correlation data and user-property values are reduced to presence flags and sizes.

Memory is bounded: a packet body is buffered only up to ``HEAD_LIMIT`` bytes; longer
packets (large publishes) are parsed from that head and the rest is skipped unread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.mqtt_codes import (
    PROPERTIES,
    PROTOCOL_LEVELS,
    PROTOCOL_NAMES,
    REQUIRED_FLAGS,
    Anomaly,
    Malformation,
    PacketType,
    PropType,
    is_auth_failure,
    reason_name,
)
from medsentry.protocols.mqtt_phi import has_phi, markers, payload_kind

PROTOCOL = "mqtt"
PORTS = (1883,)  # 8883 is MQTT inside TLS: the TLS analyzer sees it

HEAD_LIMIT = 64 * 1024  # most bytes of one packet body ever buffered
RESYNC_MAX_BODY = 16 * 1024  # longest packet accepted as a resynchronisation point
MAX_MALFORMED_RUN = 3  # consecutive malformed packets before framing is declared lost
_KINDS = ("reserved", *(t.name.lower() for t in PacketType))  # event kind per type
_CLIENT_ONLY = {
    PacketType.CONNECT,
    PacketType.SUBSCRIBE,
    PacketType.UNSUBSCRIBE,
    PacketType.PINGREQ,
}
_SERVER_ONLY = {PacketType.CONNACK, PacketType.SUBACK, PacketType.UNSUBACK, PacketType.PINGRESP}
_REPEATABLE_PROPERTIES = {0x26, 0x0B}  # user_property, subscription_identifier
_PAYLOAD_BEARING = {PacketType.PUBLISH}


class _Malformed(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class _HeadCut(Exception):
    """Parsing reached the end of the buffered head of an oversized packet."""


class _Reader:
    """Bounds-checked big-endian reads over one packet body."""

    __slots__ = ("cut", "data", "end", "pos", "total")

    def __init__(self, data: bytes, total: int) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.total = total  # the body's real length; more than ``end`` for a cut head
        self.cut = total > self.end

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int) -> None:
        if self.pos + n > self.end:
            if self.pos + n > self.total:
                raise _Malformed(Malformation.TRUNCATED)
            raise _HeadCut

    def u8(self) -> int:
        self._need(1)
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        self._need(2)
        self.pos += 2
        return int.from_bytes(self.data[self.pos - 2 : self.pos], "big")

    def u32(self) -> int:
        self._need(4)
        self.pos += 4
        return int.from_bytes(self.data[self.pos - 4 : self.pos], "big")

    def varint(self) -> int:
        value = 0
        for shift in (0, 7, 14, 21):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise _Malformed(Malformation.BAD_REMAINING_LENGTH, "variable byte integer")

    def binary(self) -> bytes:
        size = self.u16()
        self._need(size)
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def skip_binary(self) -> int:
        size = self.u16()
        self._need(size)
        self.pos += size
        return size

    def string(self) -> str:
        return self.binary().decode("utf-8", errors="replace")


def _decode_remaining_length(buf: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """(remaining length, header size) of the packet at ``start``; None if incomplete.

    Raises ``_Malformed`` when the length runs over the four bytes MQTT allows.
    """
    value = 0
    for i in range(4):
        pos = start + 1 + i
        if pos >= len(buf):
            return None
        byte = buf[pos]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, 2 + i
    raise _Malformed(Malformation.BAD_REMAINING_LENGTH)


def _check_header(first: int, version: int | None) -> None:
    """Raise ``_Malformed`` for a reserved type or flags the type does not allow."""
    ptype, flags = first >> 4, first & 0x0F
    if ptype == 0 or (ptype == PacketType.AUTH and version is not None and version != 5):
        raise _Malformed(Malformation.RESERVED_TYPE)
    if ptype == PacketType.PUBLISH:
        if (flags >> 1) & 0x03 == 3:
            raise _Malformed(Malformation.INVALID_QOS)
        return
    if flags != REQUIRED_FLAGS[ptype]:
        raise _Malformed(Malformation.INVALID_FLAGS, f"flags {flags:#x}")


def _properties(r: _Reader) -> dict[str, Any]:
    """Read an MQTT 5 property block. Secret-bearing values are reduced to sizes."""
    length = r.varint()
    if length > r.total - r.pos:
        raise _Malformed(Malformation.PROPERTY_LENGTH_OVERFLOW, f"{length} > {r.total - r.pos}")
    if length > r.remaining():
        raise _HeadCut
    block = _Reader(r.data[r.pos : r.pos + length], length)
    r.pos += length
    out: dict[str, Any] = {}
    seen: set[int] = set()
    try:
        while block.remaining():
            pid = block.varint()
            spec = PROPERTIES.get(pid)
            if spec is None:
                raise _Malformed(Malformation.UNKNOWN_PROPERTY, f"id {pid}")
            if pid in seen and pid not in _REPEATABLE_PROPERTIES:
                raise _Malformed(Malformation.DUPLICATE_PROPERTY, spec[0])
            seen.add(pid)
            _read_property(block, spec[0], spec[1], out)
    except _Malformed as exc:
        if exc.reason == Malformation.TRUNCATED:
            raise _Malformed(Malformation.PROPERTY_LENGTH_OVERFLOW, "value past block") from None
        raise
    return out


def _read_property(r: _Reader, name: str, ptype: PropType, out: dict[str, Any]) -> None:
    if ptype == PropType.BYTE:
        out[name] = r.u8()
    elif ptype == PropType.U16:
        out[name] = r.u16()
    elif ptype == PropType.U32:
        out[name] = r.u32()
    elif ptype == PropType.VARINT:  # subscription_identifier, may repeat
        out.setdefault("subscription_identifiers", []).append(r.varint())
    elif ptype == PropType.UTF8:
        out[name] = r.string()
    elif ptype == PropType.BINARY:  # correlation / authentication data: size only
        out[f"{name}_size"] = r.skip_binary()
    else:  # user property: keep the name, never the value
        key = r.string()
        out.setdefault("user_properties", []).append({"name": key, "value_size": r.skip_binary()})


class MqttAnalyzer:
    """Stream analyzer for one MQTT connection (both directions)."""

    protocol = PROTOCOL

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.version: int | None = None  # learned from CONNECT, else inferred
        self.version_inferred = False
        self._connect_seen = False
        self._connack_seen = False
        self._unintroduced_reported = [False, False]
        # the client's direction: ORIG normally, RESP when a capture began mid-connection
        # with the broker's packets and the flow was oriented from them
        self._client: int | None = None
        self._buf = [bytearray(), bytearray()]
        self._skip = [0, 0]  # bytes of an oversized packet still to discard
        self._synced = [True, True]
        self._bad_run = [0, 0]  # consecutive malformed packets per direction
        # event of an oversized packet, reported when its last byte has gone by
        self._pending: list[ProtocolEvent | None] = [None, None]

    # -- StreamAnalyzer -------------------------------------------------------------------

    def feed(self, direction: int, data: bytes, ts: float) -> list[ProtocolEvent]:
        events: list[ProtocolEvent] = []
        d = RESP if direction else ORIG
        if self._skip[d]:
            dropped = min(self._skip[d], len(data))
            self._discard(d, dropped, ts, events)
            data = data[dropped:]
        if not data:
            return events
        buf = self._buf[d]
        buf += data
        pos = 0
        while pos < len(buf):
            if not self._synced[d]:
                found = self._resync(d, buf, pos)
                if found is None:  # no offset in the buffer can start a packet
                    pos = len(buf)
                    break
                if found < 0:  # a candidate needs more bytes
                    pos = -found - 1
                    break
                pos = found
                self._synced[d] = True
            consumed = self._next_packet(d, buf, pos, ts, events)
            if consumed == 0:
                break
            pos += consumed
            if self._skip[d]:
                # the oversized packet ends beyond this point: drop what is buffered of it
                dropped = min(self._skip[d], len(buf) - pos)
                self._discard(d, dropped, ts, events)
                pos += dropped
        del buf[:pos]
        return events

    def gap(self, direction: int, size: int, ts: float) -> list[ProtocolEvent]:
        d = RESP if direction else ORIG
        events: list[ProtocolEvent] = []
        if self._skip[d] >= size:  # the hole lies inside a payload we skip anyway
            self._discard(d, size, ts, events)
            return events
        events += self._release_pending(d, ts, truncated=True)
        self._skip[d] = 0
        self._buf[d].clear()
        self._synced[d] = False
        return events

    def close(self, ts: float) -> list[ProtocolEvent]:
        events: list[ProtocolEvent] = []
        for d in (ORIG, RESP):
            buf = self._buf[d]
            if (buf and self._synced[d]) or self._skip[d]:
                events += self._release_pending(d, ts, truncated=True)
                msg_type = buf[0] >> 4 if buf else None
                events.append(self._malformed(d, ts, Malformation.INCOMPLETE_FRAME, msg_type, ""))
            buf.clear()
            self._skip[d] = 0
        return events

    def _discard(self, d: int, size: int, ts: float, events: list[ProtocolEvent]) -> None:
        """Drop ``size`` bytes of the packet being skipped; report it once it has ended."""
        self._skip[d] -= size
        if not self._skip[d]:
            events += self._release_pending(d, ts, truncated=False)

    def _release_pending(self, d: int, ts: float, truncated: bool) -> list[ProtocolEvent]:
        pending, self._pending[d] = self._pending[d], None
        if pending is None:
            return []
        if truncated:
            pending.fields["truncated"] = True
        return [replace(pending, ts=ts)]

    def buffered_bytes(self) -> int:
        """Bytes held for both directions (bounded by about ``HEAD_LIMIT`` each)."""
        return len(self._buf[ORIG]) + len(self._buf[RESP])

    # -- framing --------------------------------------------------------------------------

    def _next_packet(
        self, d: int, buf: bytearray, pos: int, ts: float, events: list[ProtocolEvent]
    ) -> int:
        """Parse the packet at ``pos``; return bytes consumed (0 = need more data)."""
        first = buf[pos]
        try:
            decoded = _decode_remaining_length(buf, pos)
        except _Malformed as exc:  # framing is lost: scan for the next packet
            events.append(self._malformed(d, ts, exc.reason, first >> 4, exc.detail))
            self._synced[d] = False
            return 1
        if decoded is None:
            return 0
        length, header = decoded
        try:
            _check_header(first, self.version)
        except _Malformed as exc:  # the length is sound: skip just this packet
            events.append(self._malformed(d, ts, exc.reason, first >> 4, exc.detail))
            if self._count_malformed(d):
                return 1  # framing is lost: resynchronisation scans from the next byte
            available = min(len(buf) - pos, header + length)
            self._skip[d] = header + length - available
            return available
        head = min(length, HEAD_LIMIT)
        if len(buf) - pos < header + head:
            return 0
        body = bytes(buf[pos + header : pos + header + head])
        self._skip[d] = length - head
        packet_events = self._packet(d, first, length, body, ts)
        broken = packet_events[-1].kind == "malformed"
        if self._skip[d] and not broken:
            self._pending[d] = packet_events.pop()
        events.extend(packet_events)
        if broken:
            self._count_malformed(d)
        else:
            self._bad_run[d] = 0
        return header + head

    def _count_malformed(self, d: int) -> bool:
        """Several broken packets in a row: this is not MQTT framing any more.

        Returns True when framing is declared lost."""
        self._bad_run[d] += 1
        if self._bad_run[d] < MAX_MALFORMED_RUN:
            return False
        self._synced[d] = False
        self._skip[d] = 0
        self._bad_run[d] = 0
        return True

    def _resync(self, d: int, buf: bytearray, start: int) -> int | None:
        """Find the next offset where a strictly valid packet starts.

        Returns the offset, ``-(offset+1)`` when a candidate needs more bytes before
        it can be judged, or None when nothing in the buffer can start a packet.
        """
        for pos in range(start, len(buf)):
            first = buf[pos]
            try:
                _check_header(first, self.version)
                decoded = _decode_remaining_length(buf, pos)
            except _Malformed:
                continue
            if decoded is None:
                return -(pos + 1)
            length, header = decoded
            if length > self._resync_limit(first >> 4):
                continue
            if len(buf) - pos < header + length:
                return -(pos + 1)
            if self._plausible(first, bytes(buf[pos + header : pos + header + length])):
                return pos
        return None

    def _resync_limit(self, ptype: int) -> int:
        """Longest body a packet of this type may have to be a resynchronisation point."""
        if ptype in (PacketType.PUBLISH, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE):
            return RESYNC_MAX_BODY
        if ptype == PacketType.CONNECT:
            return 4096
        if ptype in (PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP):
            return 64 if self.version == 5 else 2
        return 0  # PINGREQ/PINGRESP; other types are never trusted (see _plausible)

    def _plausible(self, first: int, body: bytes) -> bool:
        """Strict check of one candidate packet, used only to regain framing."""
        ptype = first >> 4
        if ptype in (PacketType.PINGREQ, PacketType.PINGRESP):
            return not body
        if ptype == PacketType.CONNECT:
            return body[:6] == b"\x00\x04MQTT" or body[:8] == b"\x00\x06MQIsdp"
        if ptype in (PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBCOMP, PacketType.PUBREL):
            return len(body) >= 2 and body[:2] != b"\x00\x00"
        if ptype == PacketType.PUBLISH:
            if len(body) < 3:
                return False
            size = int.from_bytes(body[:2], "big")
            topic = body[2 : 2 + size]
            return (
                0 < size <= len(body) - 2
                and all(0x20 <= c < 0x7F for c in topic)
                and b"+" not in topic
                and b"#" not in topic
            )
        if ptype in (PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE):
            return len(body) >= 5 and body[:2] != b"\x00\x00"
        return False  # other types are too short to be trusted as sync points

    # -- packets --------------------------------------------------------------------------

    def _packet(
        self, d: int, first: int, length: int, body: bytes, ts: float
    ) -> list[ProtocolEvent]:
        ptype = first >> 4
        kind = _KINDS[ptype]
        fields: dict[str, Any] = {
            "msg_type": ptype,
            "dup": bool(first & 0x08),
            "qos": (first >> 1) & 0x03,
            "retain": bool(first & 0x01),
            "length": length,
        }
        r = _Reader(body, length)
        events: list[ProtocolEvent] = []
        try:
            self._infer_version(ptype, length)
            parse = _PARSERS[ptype]
            parse(self, r, fields)
        except _HeadCut:
            fields["truncated"] = True
        except _Malformed as exc:
            return [self._malformed(d, ts, exc.reason, ptype, exc.detail)]
        events.extend(self._session_order(d, ptype, ts))
        if ptype == PacketType.PUBLISH and self._client is not None:
            fields["from_client"] = d == self._client
        fields["protocol_version"] = self.version
        if self.version_inferred:
            fields["version_inferred"] = True
        phi = bool(fields.pop("_phi", False))
        events.append(ProtocolEvent(ts, self.uid, PROTOCOL, kind, d, fields, phi=phi))
        return events

    def _infer_version(self, ptype: int, length: int) -> None:
        """Midstream pickup: guess MQTT 5 from packet shapes only version 5 produces."""
        if self.version is not None and not self.version_inferred:
            return
        if ptype == PacketType.CONNACK:
            guess = 5 if length > 2 else 4
        elif (
            ptype in (PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP)
            and length > 2
        ) or (ptype in (PacketType.DISCONNECT, PacketType.AUTH) and length > 0):
            guess = 5
        else:
            return
        if self.version is None or guess == 5:
            self.version = guess
            self.version_inferred = True

    def _session_order(self, d: int, ptype: int, ts: float) -> list[ProtocolEvent]:
        """Anomalies of packet order within the connection (CONNECT first, once)."""
        out: list[ProtocolEvent] = []
        if self._client is None:  # which side is the client, from packets only it sends
            if ptype in _CLIENT_ONLY:
                self._client = d
            elif ptype in _SERVER_ONLY:
                self._client = RESP if d == ORIG else ORIG
        if ptype == PacketType.CONNECT:
            if self._connect_seen:
                out.append(self._anomaly(d, ts, Anomaly.DOUBLE_CONNECT, ptype))
            self._connect_seen = True
        elif ptype == PacketType.CONNACK:
            if not self._connect_seen:
                out.append(self._anomaly(d, ts, Anomaly.MISSING_CONNECT, ptype))
            self._connack_seen = True
        elif (
            ptype != PacketType.AUTH
            and not self._introduced(d)
            and not self._unintroduced_reported[d]
        ):
            self._unintroduced_reported[d] = True
            out.append(self._anomaly(d, ts, Anomaly.UNINTRODUCED_MESSAGE, ptype))
        return out

    def _introduced(self, d: int) -> bool:
        """Whether this side may send ordinary packets yet.

        A client may send right after its CONNECT without waiting for the CONNACK
        (MQTT 3.1.1 §3.1.4); a server's first packet must be the CONNACK (§3.2).
        """
        if d == (ORIG if self._client is None else self._client):
            return self._connect_seen or self._connack_seen
        return self._connack_seen

    def _connect(self, r: _Reader, f: dict[str, Any]) -> None:
        name = r.string()
        if name not in PROTOCOL_NAMES:
            raise _Malformed(Malformation.INVALID_PROTOCOL_NAME, name[:32])
        level = r.u8()
        if level not in PROTOCOL_LEVELS:
            raise _Malformed(Malformation.INVALID_PROTOCOL_LEVEL, str(level))
        self.version = level
        self.version_inferred = False
        flags = r.u8()
        will, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 0x03, bool(flags & 0x20)
        if flags & 0x01 or (not will and (will_qos or will_retain)):
            raise _Malformed(Malformation.INVALID_CONNECT_FLAGS, f"{flags:#04x}")
        if will_qos == 3:
            raise _Malformed(Malformation.INVALID_QOS, "will")
        f.update(
            protocol_name=name,
            version_name=PROTOCOL_LEVELS[level],
            clean_session=bool(flags & 0x02),
            will_flag=will,
            will_qos=will_qos,
            will_retain=will_retain,
            username_present=bool(flags & 0x80),
            password_present=bool(flags & 0x40),
            keep_alive=r.u16(),
        )
        if level == 5:
            f["properties"] = _properties(r)
        f["client_id"] = r.string()
        if will:
            if level == 5:
                f["will_properties"] = _properties(r)
            f["will_topic"] = r.string()
            f["will_payload_size"] = r.skip_binary()
        if f["username_present"]:
            f["username_size"] = r.skip_binary()
        if f["password_present"]:
            r.skip_binary()  # the password itself is never kept

    def _connack(self, r: _Reader, f: dict[str, Any]) -> None:
        flags = r.u8()
        code = r.u8()
        f.update(
            session_present=bool(flags & 0x01),
            reason_code=code,
            reason=reason_name(code, PacketType.CONNACK, self.version),
            accepted=code == 0,
            auth_failure=is_auth_failure(code, self.version),
        )
        if self.version == 5:
            f["properties"] = _properties(r)

    def _publish(self, r: _Reader, f: dict[str, Any]) -> None:
        if f["qos"] == 0 and f["dup"]:
            raise _Malformed(Malformation.INVALID_FLAGS, "dup with qos 0")
        f["topic"] = r.string()
        if f["qos"]:
            f["message_id"] = r.u16()
        if self.version == 5:
            f["properties"] = _properties(r)
        f["payload_size"] = f["length"] - r.pos  # the payload itself is never kept
        head = r.data[r.pos : min(r.end, r.pos + markers().inspect_bytes)]
        f["payload_kind"] = payload_kind(head)
        if has_phi(head, f["payload_kind"]):
            f["_phi"] = True

    def _ack(self, r: _Reader, f: dict[str, Any]) -> None:
        """PUBACK, PUBREC, PUBREL, PUBCOMP: message id, MQTT 5 reason and properties."""
        f["message_id"] = r.u16()
        if self.version == 5:
            code = r.u8() if r.remaining() else 0
            f["reason_code"] = code
            f["reason"] = reason_name(code, f["msg_type"], 5)
            if r.remaining():
                f["properties"] = _properties(r)

    def _subscribe(self, r: _Reader, f: dict[str, Any]) -> None:
        f["message_id"] = r.u16()
        if self.version == 5:
            f["properties"] = _properties(r)
        topics: list[dict[str, Any]] = []
        f["topics"] = topics
        if not r.remaining() and not r.cut:
            raise _Malformed(Malformation.EMPTY_TOPIC_LIST)
        while r.remaining() or r.cut:
            topic = r.string()
            options = r.u8()
            if options & 0x03 == 3:
                raise _Malformed(Malformation.INVALID_QOS, "subscription")
            entry: dict[str, Any] = {"topic": topic, "qos": options & 0x03}
            if self.version == 5:
                entry.update(
                    no_local=bool(options & 0x04),
                    retain_as_published=bool(options & 0x08),
                    retain_handling=(options >> 4) & 0x03,
                )
            topics.append(entry)

    def _suback(self, r: _Reader, f: dict[str, Any]) -> None:
        f["message_id"] = r.u16()
        if self.version == 5:
            f["properties"] = _properties(r)
        f["reason_codes"] = list(r.data[r.pos : r.end])
        r.pos = r.end
        if r.cut:
            raise _HeadCut

    def _unsubscribe(self, r: _Reader, f: dict[str, Any]) -> None:
        f["message_id"] = r.u16()
        if self.version == 5:
            f["properties"] = _properties(r)
        topics: list[str] = []
        f["topics"] = topics
        if not r.remaining() and not r.cut:
            raise _Malformed(Malformation.EMPTY_TOPIC_LIST)
        while r.remaining() or r.cut:
            topics.append(r.string())

    def _unsuback(self, r: _Reader, f: dict[str, Any]) -> None:
        f["message_id"] = r.u16()
        if self.version == 5:
            f["properties"] = _properties(r)
            f["reason_codes"] = list(r.data[r.pos : r.end])

    def _empty(self, r: _Reader, f: dict[str, Any]) -> None:
        if f["length"]:
            raise _Malformed(Malformation.INVALID_LENGTH, str(f["length"]))

    def _disconnect(self, r: _Reader, f: dict[str, Any]) -> None:
        """DISCONNECT and AUTH: MQTT 5 reason code (absent means 0) and properties."""
        if self.version != 5:
            self._empty(r, f)
            return
        code = r.u8() if r.remaining() else 0
        f["reason_code"] = code
        f["reason"] = reason_name(code, f["msg_type"], 5)
        if r.remaining():
            f["properties"] = _properties(r)

    # -- event helpers --------------------------------------------------------------------

    def _malformed(
        self, d: int, ts: float, reason: str, msg_type: int | None, detail: str
    ) -> ProtocolEvent:
        fields: dict[str, Any] = {"reason": reason, "msg_type": msg_type}
        if detail:
            fields["detail"] = detail
        return ProtocolEvent(ts, self.uid, PROTOCOL, "malformed", d, fields)

    def _anomaly(self, d: int, ts: float, reason: str, msg_type: int) -> ProtocolEvent:
        fields = {"reason": reason, "msg_type": msg_type}
        return ProtocolEvent(ts, self.uid, PROTOCOL, "anomaly", d, fields)


_PARSERS: dict[int, Callable[[MqttAnalyzer, _Reader, dict[str, Any]], None]] = {
    PacketType.CONNECT: MqttAnalyzer._connect,
    PacketType.CONNACK: MqttAnalyzer._connack,
    PacketType.PUBLISH: MqttAnalyzer._publish,
    PacketType.PUBACK: MqttAnalyzer._ack,
    PacketType.PUBREC: MqttAnalyzer._ack,
    PacketType.PUBREL: MqttAnalyzer._ack,
    PacketType.PUBCOMP: MqttAnalyzer._ack,
    PacketType.SUBSCRIBE: MqttAnalyzer._subscribe,
    PacketType.SUBACK: MqttAnalyzer._suback,
    PacketType.UNSUBSCRIBE: MqttAnalyzer._unsubscribe,
    PacketType.UNSUBACK: MqttAnalyzer._unsuback,
    PacketType.PINGREQ: MqttAnalyzer._empty,
    PacketType.PINGRESP: MqttAnalyzer._empty,
    PacketType.DISCONNECT: MqttAnalyzer._disconnect,
    PacketType.AUTH: MqttAnalyzer._disconnect,
}


def looks_like_mqtt(data: bytes) -> bool:
    """Whether the first client bytes of a TCP stream are an MQTT CONNECT."""
    if len(data) < 9 or data[0] != 0x10:
        return False
    try:
        decoded = _decode_remaining_length(data, 0)
    except _Malformed:
        return False
    if decoded is None:
        return False
    header = decoded[1]
    name = data[header : header + 8]
    return name[:6] == b"\x00\x04MQTT" or name == b"\x00\x06MQIsdp"
