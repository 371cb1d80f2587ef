"""HL7 v2 over MLLP: framing, message header, acknowledgements, device identifiers.

MLLP wraps each message as ``0x0B <message> 0x1C 0x0D``. Events name the message
(type, trigger, control id, applications, version), the acknowledgement (MSA), the
devices mentioned (PRT-10/16/20/22, OBX-18) and the IEEE 11073 (MDC) names of what OBX
segments measure (``MDC_FLOW_FLUID_PUMP``: the kind of observation, never its value).
Patient values never leave this module: a message only sets ``phi`` when a
patient-bearing segment or a clinical value is present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.phi import catalogue, safe_identifier

PROTOCOL = "hl7"
START_BLOCK = 0x0B
END_BLOCK = 0x1C
# One message is buffered up to this size; a bigger one (embedded documents) keeps only
# its head for parsing and is scanned, not stored, for patient segments after that.
MAX_MESSAGE = 4 * 1024 * 1024
HEAD_KEEP = 64 * 1024
MAX_SEGMENT_IDS = 100
MAX_DEVICE_IDS = 16
_FILLER = b"\r\n\t \x00"
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_SEGMENT_SPLIT = re.compile(r"\r\n|\r|\n")
# PRT fields naming a device: participation device, UDI device identifier, serial
# number, device type.
_PRT_DEVICE_FIELDS = (10, 16, 20, 22)
_DETAILED = frozenset({"MSA", "PRT", "OBX"})


@dataclass(slots=True)
class _Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def unescape(self, value: str) -> str:
        """Resolve the delimiter escapes (\\F\\, \\S\\ ...); drop formatting ones."""
        esc = self.escape
        if not esc or esc not in value:
            return value
        table = {
            "F": self.field,
            "S": self.component,
            "T": self.subcomponent,
            "R": self.repetition,
            "E": esc,
        }
        pattern = re.escape(esc) + r"([^" + re.escape(esc) + r"]*)" + re.escape(esc)
        return re.sub(pattern, lambda m: table.get(m.group(1), ""), value)


@dataclass(slots=True)
class ParsedMessage:
    """What one HL7 message tells, without patient values."""

    fields: dict[str, Any]
    phi: bool
    error: str | None = None


def _component(value: str, enc: _Encoding, index: int = 0) -> str:
    parts = value.split(enc.component)
    return parts[index] if index < len(parts) else ""


def _hd(value: str, enc: _Encoding) -> str | None:
    """A hierarchic designator (application, facility): its namespace or universal id."""
    parts = value.split(enc.component)
    for part in parts[:2]:
        text = safe_identifier(enc.unescape(part.split(enc.subcomponent)[0]))
        if text:
            return text
    return None


def _entity_ids(value: str, enc: _Encoding, name: str, coded: bool = False) -> list[dict[str, str]]:
    """Entity identifiers (EI) of a possibly repeating field; CNE/CWE when ``coded``."""
    found = []
    for rep in value.split(enc.repetition):
        comps = [safe_identifier(enc.unescape(c)) for c in rep.split(enc.component)]
        if coded:
            # Coded element: prefer the text (component 2) over the code.
            ident = comps[1] if len(comps) > 1 and comps[1] else comps[0]
            authority = comps[2] if len(comps) > 2 else ""
        else:
            ident = comps[0]
            authority = next((c for c in comps[1:3] if c), "")
        if ident:
            item = {"field": name, "id": ident}
            if authority:
                item["authority"] = authority
            found.append(item)
    return found


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one de-framed HL7 v2 message. Never raises."""
    text = raw.decode("latin-1")
    segments = [s for s in _SEGMENT_SPLIT.split(text.strip("\r\n\t \x00")) if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        return ParsedMessage({}, False, "message does not start with an MSH segment")
    msh_text = segments[0]
    sep = msh_text[3]
    if sep.isalnum() or sep.isspace():
        return ParsedMessage({}, False, "invalid field separator in MSH")
    msh = msh_text.split(sep)
    chars = msh[1]
    enc = _Encoding(field=sep)
    for attr, char in zip(
        ("component", "repetition", "escape", "subcomponent"), chars, strict=False
    ):
        setattr(enc, attr, char)

    def msh_field(n: int) -> str:
        # MSH-1 is the separator itself, so MSH-n sits at index n-1.
        return msh[n - 1] if n - 1 < len(msh) else ""

    msg_type = msh_field(9)
    cat = catalogue()
    out: dict[str, Any] = {
        "encoding_chars": safe_identifier(chars, 5),
        "sending_application": _hd(msh_field(3), enc),
        "sending_facility": _hd(msh_field(4), enc),
        "receiving_application": _hd(msh_field(5), enc),
        "receiving_facility": _hd(msh_field(6), enc),
        "message_type": safe_identifier(_component(msg_type, enc, 0), 16) or None,
        "trigger_event": safe_identifier(_component(msg_type, enc, 1), 16) or None,
        "message_structure": safe_identifier(_component(msg_type, enc, 2), 16) or None,
        "control_id": safe_identifier(enc.unescape(msh_field(10)), 64) or None,
        "processing_id": safe_identifier(_component(msh_field(11), enc), 8) or None,
        "version": safe_identifier(_component(msh_field(12), enc), 16) or None,
        "ack_code": None,
        "ack_control_id": None,
        "segments": ["MSH"],
        "segment_count": len(segments),
        "device_ids": [],
        "mdc_codes": [],
    }
    phi = False
    devices: list[dict[str, str]] = out["device_ids"]
    codes: list[str] = out["mdc_codes"]
    bad_ids = 0
    for seg in segments[1:]:
        sid = seg[:3]
        if not _SEGMENT_ID.fullmatch(sid) or (len(seg) > 3 and seg[3] != sep):
            bad_ids += 1
            continue
        if len(out["segments"]) < MAX_SEGMENT_IDS:
            out["segments"].append(sid)
        if sid in cat.hl7_segments:
            phi = True
        value_field = cat.hl7_value_fields.get(sid)
        if value_field is None and sid not in _DETAILED:
            continue  # nothing more to learn here: do not even split it
        parts = seg.split(sep)
        if value_field is not None and len(parts) > value_field and parts[value_field].strip():
            phi = True
        if sid == "MSA":
            out["ack_code"] = safe_identifier(_component(_at(parts, 1), enc), 4) or None
            out["ack_control_id"] = safe_identifier(enc.unescape(_at(parts, 2)), 64) or None
        elif sid == "PRT":
            for n in _PRT_DEVICE_FIELDS:
                devices.extend(_entity_ids(_at(parts, n), enc, f"PRT-{n}", coded=n == 22))
        elif sid == "OBX":
            devices.extend(_entity_ids(_at(parts, 18), enc, "OBX-18"))
            code = safe_identifier(_component(_at(parts, 3), enc, 1), 64)
            if code.startswith("MDC_") and code not in codes and len(codes) < MAX_DEVICE_IDS:
                codes.append(code)
    unique: list[dict[str, str]] = []
    for item in devices:
        if item not in unique and len(unique) < MAX_DEVICE_IDS:
            unique.append(item)
    out["device_ids"] = unique
    if bad_ids:
        out["invalid_segments"] = bad_ids
    return ParsedMessage(out, phi)


def _at(parts: list[str], index: int) -> str:
    return parts[index] if index < len(parts) else ""


@dataclass(slots=True)
class _Direction:
    buf: bytearray = field(default_factory=bytearray)
    in_frame: bool = False
    overflow: bool = False
    size: int = 0
    carry: bytes = b""
    tail_phi: bool = False
    garbage: int = 0


class HL7Analyzer:
    """HL7 v2 messages in MLLP frames, both directions of one TCP connection."""

    protocol = PROTOCOL

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._dirs = (_Direction(), _Direction())
        self._tail_pattern = self._build_tail_pattern()

    @staticmethod
    def _build_tail_pattern() -> re.Pattern[bytes]:
        cat = catalogue()
        names = sorted(cat.hl7_segments | set(cat.hl7_value_fields))
        return re.compile(rb"[\r\n](?:" + b"|".join(n.encode() for n in names) + rb")\|")

    def _event(
        self, ts: float, direction: int, kind: str, fields: dict[str, Any], phi: bool = False
    ) -> ProtocolEvent:
        return ProtocolEvent(ts, self.uid, PROTOCOL, kind, direction, fields, phi)

    def _malformed(self, ts: float, direction: int, reason: str) -> ProtocolEvent:
        return self._event(ts, direction, "malformed", {"reason": reason})

    def feed(self, direction: int, data: bytes, ts: float) -> list[ProtocolEvent]:
        if direction not in (ORIG, RESP):
            return []
        d = self._dirs[direction]
        events: list[ProtocolEvent] = []
        view = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if not d.in_frame:
                j = data.find(START_BLOCK, i)
                stop = n if j < 0 else j
                d.garbage += len(bytes(view[i:stop]).translate(None, _FILLER))
                if j < 0:
                    break
                if d.garbage:
                    events.append(
                        self._malformed(ts, direction, f"{d.garbage} bytes outside an MLLP frame")
                    )
                    d.garbage = 0
                self._start(d)
                i = j + 1
                continue
            end = data.find(END_BLOCK, i)
            stop = n if end < 0 else end
            restart = data.find(START_BLOCK, i, stop)
            if restart >= 0:
                events.append(
                    self._malformed(ts, direction, "MLLP frame restarted before its end block")
                )
                self._start(d)
                i = restart + 1
                continue
            self._append(d, view[i:stop])
            if end < 0:
                break
            events.append(self._finish(d, direction, ts))
            i = end + 1
        return events

    @staticmethod
    def _start(d: _Direction) -> None:
        d.buf.clear()
        d.in_frame = True
        d.overflow = False
        d.size = 0
        d.carry = b""
        d.tail_phi = False

    def _append(self, d: _Direction, chunk: memoryview) -> None:
        d.size += len(chunk)
        if not d.overflow:
            if len(d.buf) + len(chunk) <= MAX_MESSAGE:
                d.buf += chunk
                return
            # Too big to keep: the head stays for parsing, the rest is only scanned.
            d.overflow = True
            room = max(0, HEAD_KEEP - len(d.buf))
            d.buf += chunk[:room]
            chunk = chunk[room:]
            beyond = bytes(d.buf[HEAD_KEEP:])
            d.carry = bytes(d.buf[max(0, HEAD_KEEP - 8) : HEAD_KEEP])
            del d.buf[HEAD_KEEP:]
            self._scan_tail(d, beyond)
        self._scan_tail(d, bytes(chunk))

    def _scan_tail(self, d: _Direction, chunk: bytes) -> None:
        if not d.tail_phi and self._tail_pattern.search(d.carry + chunk):
            d.tail_phi = True
        d.carry = (d.carry + chunk)[-8:]

    def _finish(self, d: _Direction, direction: int, ts: float) -> ProtocolEvent:
        d.in_frame = False
        parsed = parse_message(bytes(d.buf))
        size = d.size
        truncated = d.overflow
        phi = parsed.phi or d.tail_phi
        self._start(d)
        d.in_frame = False
        if parsed.error is not None:
            return self._malformed(ts, direction, parsed.error)
        fields = dict(parsed.fields)
        fields["size"] = size
        fields["truncated"] = truncated
        return self._event(ts, direction, "message", fields, phi)

    def gap(self, direction: int, size: int, ts: float) -> list[ProtocolEvent]:
        if direction not in (ORIG, RESP):
            return []
        d = self._dirs[direction]
        if not d.in_frame:
            return []
        self._start(d)
        d.in_frame = False
        return [self._malformed(ts, direction, f"{size} bytes missing inside an MLLP frame")]

    def buffered_bytes(self) -> int:
        """Bytes held for both directions (bounded by ``MAX_MESSAGE`` each)."""
        return sum(len(d.buf) + len(d.carry) for d in self._dirs)

    def close(self, ts: float) -> list[ProtocolEvent]:
        events = []
        for direction, d in enumerate(self._dirs):
            if d.in_frame and (d.size or d.buf):
                events.append(
                    self._malformed(
                        ts, direction, f"connection closed inside an MLLP frame ({d.size} bytes)"
                    )
                )
            elif d.garbage:
                events.append(
                    self._malformed(ts, direction, f"{d.garbage} bytes outside an MLLP frame")
                )
            self._start(d)
            d.in_frame = False
            d.garbage = 0
        return events
