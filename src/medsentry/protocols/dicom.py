"""DICOM upper layer (PS3.8) and DIMSE command sets (PS3.7) over TCP.

Association PDUs are parsed fully (AE titles, presentation contexts, user information).
P-DATA-TF is parsed as a stream: command sets (small) are assembled and decoded, data sets
are never stored: only their first ``DATASET_HEAD`` bytes are walked, to learn whether they
carry patient-module attributes (the ``phi`` flag) and a few equipment attributes that
identify the sending device. Nothing here keeps a patient value.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.dicom_uids import is_valid_uid, transfer_syntax, uid_name
from medsentry.protocols.phi import catalogue, safe_identifier

PROTOCOL = "dicom"
HEADER = 6
MAX_ASSOCIATE_PDU = 1024 * 1024  # 128 contexts with many transfer syntaxes fit easily
MAX_PDATA_PDU = 1 << 31  # streamed, never buffered; beyond this the length is nonsense
MAX_COMMAND = 64 * 1024
DATASET_HEAD = 64 * 1024
MAX_CONTEXTS = 128
MAX_DEPTH = 8
LOST_KEEP = 16

PDU_NAMES = {
    0x01: "associate_rq",
    0x02: "associate_ac",
    0x03: "associate_rj",
    0x04: "p_data",
    0x05: "release_rq",
    0x06: "release_rp",
    0x07: "abort",
}

COMMANDS = {
    0x0001: "C-STORE-RQ",
    0x8001: "C-STORE-RSP",
    0x0010: "C-GET-RQ",
    0x8010: "C-GET-RSP",
    0x0020: "C-FIND-RQ",
    0x8020: "C-FIND-RSP",
    0x0021: "C-MOVE-RQ",
    0x8021: "C-MOVE-RSP",
    0x0030: "C-ECHO-RQ",
    0x8030: "C-ECHO-RSP",
    0x0100: "N-EVENT-REPORT-RQ",
    0x8100: "N-EVENT-REPORT-RSP",
    0x0110: "N-GET-RQ",
    0x8110: "N-GET-RSP",
    0x0120: "N-SET-RQ",
    0x8120: "N-SET-RSP",
    0x0130: "N-ACTION-RQ",
    0x8130: "N-ACTION-RSP",
    0x0140: "N-CREATE-RQ",
    0x8140: "N-CREATE-RSP",
    0x0150: "N-DELETE-RQ",
    0x8150: "N-DELETE-RSP",
    0x0FFF: "C-CANCEL-RQ",
}

CONTEXT_RESULTS = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason",
    3: "abstract-syntax-not-supported",
    4: "transfer-syntaxes-not-supported",
}
REJECT_RESULTS = {1: "rejected-permanent", 2: "rejected-transient"}
REJECT_SOURCES = {
    1: "service-user",
    2: "service-provider-acse",
    3: "service-provider-presentation",
}
REJECT_REASONS = {
    (1, 1): "no-reason-given",
    (1, 2): "application-context-name-not-supported",
    (1, 3): "calling-ae-title-not-recognized",
    (1, 7): "called-ae-title-not-recognized",
    (2, 1): "no-reason-given",
    (2, 2): "protocol-version-not-supported",
    (3, 1): "temporary-congestion",
    (3, 2): "local-limit-exceeded",
}
ABORT_SOURCES = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASONS = {
    0: "not-specified",
    1: "unrecognized-pdu",
    2: "unexpected-pdu",
    4: "unrecognized-pdu-parameter",
    5: "unexpected-pdu-parameter",
    6: "invalid-pdu-parameter-value",
}
USER_IDENTITY_TYPES = {
    1: "username",
    2: "username-passcode",
    3: "kerberos",
    4: "saml",
    5: "jwt",
}

# Command set elements kept (PS3.7 E.1); instance UIDs and error comments are left out.
_CMD_UID = {0x00000002: "affected_sop_class_uid", 0x00000003: "requested_sop_class_uid"}
_CMD_US = {
    0x00000100: "command_field",
    0x00000110: "message_id",
    0x00000120: "message_id_responded",
    0x00000700: "priority",
    0x00000800: "command_data_set_type",
    0x00000900: "status",
    0x00001020: "remaining_sub_operations",
    0x00001021: "completed_sub_operations",
    0x00001022: "failed_sub_operations",
    0x00001023: "warning_sub_operations",
    0x00001031: "move_originator_message_id",
}
_CMD_AE = {0x00000600: "move_destination", 0x00001030: "move_originator_ae"}
NO_DATA_SET = 0x0101

# Data set elements that describe the query or the equipment, never the patient.
_DATASET_KEEP = {
    0x00080016: "dataset_sop_class_uid",
    0x00080052: "query_level",
    0x00080060: "modality",
    0x00080070: "manufacturer",
    0x00081010: "station_name",
    0x00081090: "model",
    0x00181000: "device_serial_number",
    0x00181020: "software_versions",
}
_LAST_KEPT_TAG = max(_DATASET_KEEP)
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT"}
_VALID_VRS = _LONG_VRS | {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT",
    b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US", b"UV",
}  # fmt: skip
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_UNDEFINED = 0xFFFFFFFF
_WILDCARD_ONLY = b" \x00*?\\"


def status_category(status: int) -> str:
    """PS3.7 C.1 status classes."""
    if status == 0x0000:
        return "success"
    if status in (0xFF00, 0xFF01):
        return "pending"
    if status == 0xFE00:
        return "cancel"
    if status in (0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF:
        return "warning"
    return "failure"


def _text(raw: bytes, max_len: int = 64) -> str:
    return safe_identifier(raw.decode("latin-1").strip(" \x00"), max_len)


def _uid(raw: bytes) -> str:
    """A UID value; anything that is not dotted digits is cleaned, not trusted."""
    text = raw.decode("latin-1").strip(" \x00")
    return text if is_valid_uid(text) else safe_identifier(text, 64)


class _Malformed(Exception):
    """Internal: a PDU whose content contradicts its own lengths."""


# --- Association PDUs -------------------------------------------------------------------


def _items(data: bytes, start: int) -> list[tuple[int, bytes]]:
    """Type-length-value items (1 type, 1 reserved, 2 length) from ``start``."""
    out = []
    pos = start
    while pos < len(data):
        if pos + 4 > len(data):
            raise _Malformed("truncated item header")
        kind = data[pos]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 4 + length
        if end > len(data):
            raise _Malformed(f"item 0x{kind:02x} overruns its PDU")
        out.append((kind, data[pos + 4 : end]))
        pos = end
    return out


def _user_information(value: bytes, fields: dict[str, Any]) -> None:
    roles = []
    for kind, sub in _items(value, 0):
        if kind == 0x51 and len(sub) >= 4:
            fields["max_pdu_length"] = struct.unpack_from(">I", sub)[0]
        elif kind == 0x52:
            fields["implementation_class_uid"] = _uid(sub)
        elif kind == 0x55:
            fields["implementation_version_name"] = _text(sub, 16)
        elif kind == 0x53 and len(sub) >= 4:
            invoked, performed = struct.unpack_from(">HH", sub)
            fields["async_ops_window"] = [invoked, performed]
        elif kind == 0x54 and len(sub) >= 2:
            (n,) = struct.unpack_from(">H", sub)
            if len(sub) >= 2 + n + 2:
                uid = _uid(sub[2 : 2 + n])
                roles.append({"sop_class_uid": uid, "scu": sub[2 + n], "scp": sub[3 + n]})
        elif kind == 0x56:
            fields["extended_negotiation"] = fields.get("extended_negotiation", 0) + 1
        elif kind == 0x58 and len(sub) >= 2:
            # The identity itself (user name, passcode, token) is never read.
            fields["user_identity"] = USER_IDENTITY_TYPES.get(sub[0], f"type-{sub[0]}")
            fields["user_identity_response_requested"] = bool(sub[1])
        elif kind == 0x59:
            fields["user_identity_response"] = True
    if roles:
        fields["role_selection"] = roles[:MAX_CONTEXTS]


def parse_associate(body: bytes, request: bool) -> dict[str, Any]:
    """A-ASSOCIATE-RQ (``request``) or -AC body (after the 6-byte PDU header)."""
    if len(body) < 68:
        raise _Malformed(f"A-ASSOCIATE body of {len(body)} bytes is shorter than 68")
    (version,) = struct.unpack_from(">H", body)
    fields: dict[str, Any] = {
        "protocol_version": version,
        "called_ae": _text(body[4:20], 16),
        "calling_ae": _text(body[20:36], 16),
        "application_context": None,
        "application_context_name": None,
        "presentation_contexts": [],
        "max_pdu_length": None,
        "implementation_class_uid": None,
        "implementation_version_name": None,
        "user_identity": None,
    }
    contexts: list[dict[str, Any]] = fields["presentation_contexts"]
    context_item = 0x20 if request else 0x21
    for kind, value in _items(body, 68):
        if kind == 0x10:
            uid = _uid(value)
            fields["application_context"] = uid
            fields["application_context_name"] = uid_name(uid)
        elif kind == context_item and len(value) >= 4 and len(contexts) < MAX_CONTEXTS:
            context: dict[str, Any] = {"id": value[0]}
            syntaxes = []
            for sub_kind, sub in _items(value, 4):
                if sub_kind == 0x30:
                    uid = _uid(sub)
                    context["abstract_syntax"] = uid
                    context["abstract_syntax_name"] = uid_name(uid)
                elif sub_kind == 0x40:
                    syntaxes.append(_uid(sub))
            if request:
                context["transfer_syntaxes"] = syntaxes[:32]
            else:
                context["result"] = value[2]
                context["result_name"] = CONTEXT_RESULTS.get(value[2], "unknown")
                context["transfer_syntax"] = syntaxes[0] if syntaxes else None
            contexts.append(context)
        elif kind == 0x50:
            _user_information(value, fields)
    if request and not contexts:
        raise _Malformed("A-ASSOCIATE-RQ without presentation contexts")
    return fields


# --- Command and data sets --------------------------------------------------------------


def parse_command(data: bytes) -> dict[str, Any]:
    """A DIMSE command set (always implicit VR little endian)."""
    fields: dict[str, Any] = {}
    pos = 0
    while pos + 8 <= len(data):
        tag = (struct.unpack_from("<H", data, pos)[0] << 16) | struct.unpack_from(
            "<H", data, pos + 2
        )[0]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        value = data[pos + 8 : pos + 8 + length]
        if length == _UNDEFINED or len(value) < length:
            raise _Malformed("command element overruns the command set")
        if tag >> 16 != 0x0000:
            raise _Malformed(f"element ({tag >> 16:04x},{tag & 0xFFFF:04x}) in a command set")
        if tag in _CMD_US and length >= 2:
            fields[_CMD_US[tag]] = struct.unpack_from("<H", value)[0]
        elif tag in _CMD_UID:
            fields[_CMD_UID[tag]] = _uid(value)
        elif tag in _CMD_AE:
            fields[_CMD_AE[tag]] = _text(value, 16)
        pos += 8 + length
    if pos != len(data):
        raise _Malformed("trailing bytes after the last command element")
    if "command_field" not in fields:
        raise _Malformed("command set without CommandField (0000,0100)")
    return fields


@dataclass(slots=True)
class DatasetFacts:
    phi: bool = False
    values: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class _Stop(Exception):
    """Internal: nothing more to learn from this data set."""


class _DatasetWalker:
    """Walks data set elements in a bounded buffer, noting patient tags and kept values."""

    def __init__(self, data: bytes, explicit: bool, little: bool) -> None:
        self.data = data
        self.explicit = explicit
        self.e = "<" if little else ">"
        self.facts = DatasetFacts()
        self.cat = catalogue()

    def run(self) -> DatasetFacts:
        try:
            self._elements(0, len(self.data), 0)
        except _Stop:
            pass
        except (_Malformed, struct.error) as exc:
            self.facts.error = str(exc) or "data set structure"
        return self.facts

    def _tag(self, pos: int) -> int:
        group, elem = struct.unpack_from(self.e + "HH", self.data, pos)
        return int((group << 16) | elem)

    def _elements(self, pos: int, end: int, depth: int) -> int:
        """Walk elements in [pos, end); return the position after an item delimiter."""
        if depth > MAX_DEPTH:
            raise _Malformed("sequences nested too deep")
        data = self.data
        while pos < end:
            if pos + 8 > len(data):
                raise _Stop  # the head was cut here
            tag = self._tag(pos)
            if tag == _ITEM_END:
                return pos + 8
            if tag >> 16 == 0xFFFE:
                raise _Malformed(f"unexpected delimiter ({tag >> 16:04x},{tag & 0xFFFF:04x})")
            vr = b""
            if self.explicit:
                vr = data[pos + 4 : pos + 6]
                if vr not in _VALID_VRS:
                    raise _Malformed("invalid VR")
                if vr in _LONG_VRS:
                    if pos + 12 > len(data):
                        raise _Stop
                    (length,) = struct.unpack_from(self.e + "I", data, pos + 8)
                    start = pos + 12
                else:
                    (length,) = struct.unpack_from(self.e + "H", data, pos + 6)
                    start = pos + 8
            else:
                (length,) = struct.unpack_from(self.e + "I", data, pos + 4)
                start = pos + 8
            if depth == 0 and tag > _LAST_KEPT_TAG:
                raise _Stop  # patient (0010) and equipment (0008/0018) attributes are behind
            if tag == _PIXEL_DATA:
                raise _Stop
            is_phi = self.cat.dicom_tag_is_phi(tag)
            if length == _UNDEFINED:
                if is_phi:
                    self.facts.phi = True
                pos = self._sequence(start, end, depth + 1)
                continue
            stop = start + length
            if is_phi and length and data[start:stop].strip(_WILDCARD_ONLY):
                self.facts.phi = True
            elif is_phi and length and stop > len(data):
                self.facts.phi = True  # value cut by the head limit: assume it is real
            if stop > len(data):
                raise _Stop
            if depth == 0 and tag in _DATASET_KEEP:
                self.facts.values[_DATASET_KEEP[tag]] = _text(data[start:stop])
            elif vr == b"SQ":
                self._sequence_defined(start, stop, depth + 1)
            pos = stop
        return pos

    def _sequence(self, pos: int, end: int, depth: int) -> int:
        """Items of an undefined-length sequence; return the position after its delimiter."""
        while True:
            if pos + 8 > len(self.data):
                raise _Stop
            tag = self._tag(pos)
            (length,) = struct.unpack_from(self.e + "I", self.data, pos + 4)
            if tag == _SEQ_END:
                return pos + 8
            if tag != _ITEM:
                raise _Malformed("sequence without item tag")
            if length == _UNDEFINED:
                pos = self._elements(pos + 8, end, depth)
            else:
                self._elements(pos + 8, pos + 8 + length, depth)
                pos += 8 + length

    def _sequence_defined(self, pos: int, end: int, depth: int) -> None:
        while pos < end:
            if pos + 8 > len(self.data):
                raise _Stop
            tag = self._tag(pos)
            (length,) = struct.unpack_from(self.e + "I", self.data, pos + 4)
            if tag != _ITEM:
                raise _Malformed("sequence without item tag")
            if length == _UNDEFINED:
                pos = self._elements(pos + 8, end, depth)
            else:
                self._elements(pos + 8, pos + 8 + length, depth)
                pos += 8 + length


def scan_dataset(data: bytes, ts_uid: str | None) -> DatasetFacts:
    """Patient-tag presence and equipment attributes of (the head of) one data set."""
    syntax = transfer_syntax(ts_uid) if ts_uid else None
    if syntax is not None and syntax.deflated:
        try:
            data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, DATASET_HEAD * 4)
        except zlib.error:
            return DatasetFacts(error="deflated data set does not inflate")
    if syntax is None:
        # No A-ASSOCIATE-AC seen: recognise explicit VR by a valid VR after the first tag.
        explicit = len(data) >= 6 and data[4:6] in _VALID_VRS
        little = True
    else:
        explicit, little = syntax.explicit_vr, syntax.little_endian
    return _DatasetWalker(data, explicit, little).run()


# --- The stream analyzer ----------------------------------------------------------------

_HDR, _BODY, _SKIP, _PDV_HDR, _PDV_VAL, _LOST = range(6)


def _plausible_pdu(buf: bytearray, pos: int) -> bool:
    """Whether 12 bytes at ``pos`` look like a PDU header beyond reasonable doubt."""
    kind = buf[pos]
    (length,) = struct.unpack_from(">I", buf, pos + 2)
    if kind == 0x04:
        (item,) = struct.unpack_from(">I", buf, pos + 6)
        return (
            6 <= length <= MAX_PDATA_PDU
            and 2 <= item <= length - 4
            and bool(buf[pos + 10] & 1)
            and buf[pos + 11] < 4
        )
    if kind in (0x05, 0x06):
        return length == 4 and buf[pos + 6 : pos + 10] == bytes(4)
    if kind == 0x07:
        return length == 4 and buf[pos + 8] in (0, 2)
    if kind in (0x01, 0x02):
        return 68 <= length <= MAX_ASSOCIATE_PDU and buf[pos + 6 : pos + 8] == b"\x00\x01"
    return False


@dataclass(slots=True)
class _Message:
    """A DIMSE message being assembled in one direction."""

    ts: float
    context_id: int
    command: dict[str, Any] | None = None
    command_buf: bytearray = field(default_factory=bytearray)
    dataset_head: bytearray = field(default_factory=bytearray)
    dataset_bytes: int = 0
    dataset_gap: bool = False
    dataset_context_id: int | None = None


@dataclass(slots=True)
class _Direction:
    buf: bytearray = field(default_factory=bytearray)
    state: int = _HDR
    pdu_type: int = 0
    need: int = 0  # body bytes (BODY), bytes to skip (SKIP)
    pdu_left: int = 0  # P-DATA bytes not yet split into PDVs
    pdv_left: int = 0
    pdv_context: int = 0
    pdv_command: bool = False
    pdv_last: bool = False
    message: _Message | None = None


class DicomAnalyzer:
    """DICOM upper layer PDUs and DIMSE messages of one TCP connection."""

    protocol = PROTOCOL

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._dirs = (_Direction(), _Direction())
        self._abstract: dict[int, str] = {}  # presentation context id -> abstract syntax
        self._accepted: dict[int, str] = {}  # presentation context id -> transfer syntax

    # -- events

    def _event(
        self, ts: float, direction: int, kind: str, fields: dict[str, Any], phi: bool = False
    ) -> ProtocolEvent:
        return ProtocolEvent(ts, self.uid, PROTOCOL, kind, direction, fields, phi)

    def _malformed(self, ts: float, direction: int, reason: str) -> ProtocolEvent:
        return self._event(ts, direction, "malformed", {"reason": reason})

    # -- public interface

    def feed(self, direction: int, data: bytes, ts: float) -> list[ProtocolEvent]:
        if direction not in (ORIG, RESP) or not data:
            return []
        d = self._dirs[direction]
        d.buf += data
        events: list[ProtocolEvent] = []
        pos = self._run(d, direction, ts, events)
        del d.buf[:pos]
        return events

    def gap(self, direction: int, size: int, ts: float) -> list[ProtocolEvent]:
        if direction not in (ORIG, RESP) or size <= 0:
            return []
        d = self._dirs[direction]
        events: list[ProtocolEvent] = []
        if not d.buf and d.state == _PDV_VAL and size <= d.pdv_left:
            # The hole sits inside one PDV value: PDU boundaries stay known.
            d.pdv_left -= size
            message = d.message
            if message is not None and not d.pdv_command:
                message.dataset_gap = True
                message.dataset_bytes += size
            elif message is not None:
                d.message = None
                events.append(self._malformed(ts, direction, "gap inside a command set"))
            if d.pdv_left == 0:
                self._pdv_done(d, direction, ts, events)
            return events
        if not d.buf and d.state == _SKIP and size <= d.need:
            d.need -= size
            if d.need == 0:
                d.state = _HDR
            return events
        if d.state != _LOST:
            events.append(
                self._malformed(ts, direction, f"{size} bytes missing; PDU boundary lost")
            )
        self._flush_message(d, direction, ts, events, incomplete=True)
        d.buf.clear()
        d.state = _LOST
        return events

    def buffered_bytes(self) -> int:
        """Bytes held for both directions: partial PDUs, command sets, data set heads."""
        held = 0
        for d in self._dirs:
            held += len(d.buf)
            if d.message is not None:
                held += len(d.message.command_buf) + len(d.message.dataset_head)
        return held

    def close(self, ts: float) -> list[ProtocolEvent]:
        events: list[ProtocolEvent] = []
        for direction, d in enumerate(self._dirs):
            self._flush_message(d, direction, ts, events, incomplete=True)
            mid_pdu = d.state in (_BODY, _SKIP, _PDV_VAL) or (
                d.state == _PDV_HDR and d.pdu_left > 0
            )
            if d.state != _LOST and (d.buf or mid_pdu):
                events.append(self._malformed(ts, direction, "connection closed inside a PDU"))
            d.buf.clear()
            d.state = _HDR
        return events

    # -- the PDU state machine

    def _run(self, d: _Direction, direction: int, ts: float, events: list[ProtocolEvent]) -> int:
        buf = d.buf
        pos = 0
        while True:
            avail = len(buf) - pos
            if d.state == _HDR:
                if avail < HEADER:
                    return pos
                pdu_type = buf[pos]
                (length,) = struct.unpack_from(">I", buf, pos + 2)
                problem = self._header_problem(pdu_type, length)
                if problem:
                    events.append(self._malformed(ts, direction, problem))
                    self._flush_message(d, direction, ts, events, incomplete=True)
                    d.state = _LOST
                    continue
                pos += HEADER
                d.pdu_type = pdu_type
                if pdu_type == 0x04:
                    d.pdu_left = length
                    d.state = _PDV_HDR
                    if length == 0:
                        events.append(self._malformed(ts, direction, "P-DATA-TF without PDV"))
                else:
                    d.need = length
                    d.state = _BODY
            elif d.state == _BODY:
                if avail < d.need:
                    return pos
                body = bytes(buf[pos : pos + d.need])
                pos += d.need
                d.state = _HDR
                events.extend(self._control_pdu(d.pdu_type, body, direction, ts))
            elif d.state == _SKIP:
                step = min(avail, d.need)
                pos += step
                d.need -= step
                if d.need:
                    return pos
                d.state = _HDR
            elif d.state == _PDV_HDR:
                if d.pdu_left == 0:
                    d.state = _HDR
                    continue
                if d.pdu_left < 6:
                    events.append(self._malformed(ts, direction, "P-DATA-TF ends inside a PDV"))
                    d.state, d.need = _SKIP, d.pdu_left
                    continue
                if avail < 6:
                    return pos
                (item_len,) = struct.unpack_from(">I", buf, pos)
                context, header = buf[pos + 4], buf[pos + 5]
                if item_len < 2 or item_len > d.pdu_left - 4:
                    events.append(
                        self._malformed(ts, direction, "PDV length does not fit its P-DATA-TF")
                    )
                    self._flush_message(d, direction, ts, events, incomplete=True)
                    d.state, d.need = _SKIP, d.pdu_left
                    continue
                pos += 6
                d.pdu_left -= 4 + item_len
                d.pdv_left = item_len - 2
                d.pdv_context = context
                d.pdv_command = bool(header & 0x01)
                d.pdv_last = bool(header & 0x02)
                self._pdv_start(d, direction, ts, events)
                d.state = _PDV_VAL
                if d.pdv_left == 0:
                    self._pdv_done(d, direction, ts, events)
            elif d.state == _PDV_VAL:
                step = min(avail, d.pdv_left)
                if step:
                    self._pdv_bytes(d, buf[pos : pos + step])
                    pos += step
                    d.pdv_left -= step
                if d.pdv_left:
                    return pos
                self._pdv_done(d, direction, ts, events)
            else:  # _LOST: look for something that is surely a PDU header
                found = self._resync(buf, pos)
                if found < 0:
                    return max(pos, len(buf) - LOST_KEEP)
                pos = found
                d.state = _HDR

    @staticmethod
    def _header_problem(pdu_type: int, length: int) -> str | None:
        if pdu_type not in PDU_NAMES:
            return f"unknown PDU type 0x{pdu_type:02x}"
        if pdu_type in (0x01, 0x02) and not 68 <= length <= MAX_ASSOCIATE_PDU:
            return f"A-ASSOCIATE PDU length {length} out of range"
        if pdu_type in (0x03, 0x05, 0x06, 0x07) and length != 4:
            return f"{PDU_NAMES[pdu_type]} PDU length {length} is not 4"
        if pdu_type == 0x04 and length > MAX_PDATA_PDU:
            return f"P-DATA-TF length {length} out of range"
        return None

    @staticmethod
    def _resync(buf: bytearray, pos: int) -> int:
        """Offset of the next plausible PDU header at or after ``pos``, else -1."""
        end = len(buf) - 12
        while pos <= end:
            if buf[pos + 1] == 0 and 0x01 <= buf[pos] <= 0x07 and _plausible_pdu(buf, pos):
                return pos
            pos += 1
        return -1

    def _control_pdu(
        self, pdu_type: int, body: bytes, direction: int, ts: float
    ) -> list[ProtocolEvent]:
        kind = PDU_NAMES[pdu_type]
        try:
            if pdu_type in (0x01, 0x02):
                fields = parse_associate(body, request=pdu_type == 0x01)
                self._remember_contexts(pdu_type, fields)
            elif pdu_type == 0x03:
                result, source, reason = body[1], body[2], body[3]
                fields = {
                    "result": result,
                    "result_name": REJECT_RESULTS.get(result, "unknown"),
                    "source": source,
                    "source_name": REJECT_SOURCES.get(source, "unknown"),
                    "reason": reason,
                    "reason_name": REJECT_REASONS.get((source, reason), "unknown"),
                }
            elif pdu_type == 0x07:
                source, reason = body[2], body[3]
                fields = {
                    "source": source,
                    "source_name": ABORT_SOURCES.get(source, "unknown"),
                    "reason": reason,
                    "reason_name": ABORT_REASONS.get(reason, "unknown"),
                }
            else:
                fields = {}
        except (_Malformed, struct.error, IndexError) as exc:
            return [self._malformed(ts, direction, f"{kind}: {exc}")]
        return [self._event(ts, direction, kind, fields)]

    def _remember_contexts(self, pdu_type: int, fields: dict[str, Any]) -> None:
        if pdu_type == 0x01:
            self._abstract = {
                c["id"]: c["abstract_syntax"]
                for c in fields["presentation_contexts"]
                if c.get("abstract_syntax")
            }
            self._accepted = {}
            return
        for context in fields["presentation_contexts"]:
            # An A-ASSOCIATE-AC names no abstract syntax: take it from the request.
            abstract = self._abstract.get(context["id"])
            context["abstract_syntax"] = abstract
            context["abstract_syntax_name"] = uid_name(abstract) if abstract else None
            if context["result"] == 0 and context["transfer_syntax"]:
                self._accepted[context["id"]] = context["transfer_syntax"]
        fields["accepted_contexts"] = sum(
            1 for c in fields["presentation_contexts"] if c["result"] == 0
        )

    # -- PDVs and DIMSE messages

    def _pdv_start(
        self, d: _Direction, direction: int, ts: float, events: list[ProtocolEvent]
    ) -> None:
        message = d.message
        if d.pdv_command:
            if message is not None and message.command is not None:
                # A new command while the previous message waited for its data set.
                self._flush_message(d, direction, ts, events, incomplete=True)
                message = None
            if message is None:
                d.message = _Message(ts, d.pdv_context)
        elif message is None:
            # A data set without its command: the capture started mid-message.
            d.message = _Message(ts, d.pdv_context)
            d.message.command = {}
        if d.message is not None and not d.pdv_command:
            d.message.dataset_context_id = d.pdv_context

    def _pdv_bytes(self, d: _Direction, chunk: bytearray) -> None:
        message = d.message
        if message is None:
            return
        if d.pdv_command:
            if len(message.command_buf) + len(chunk) <= MAX_COMMAND:
                message.command_buf += chunk
            else:
                message.command_buf = bytearray(b"\xff" * (MAX_COMMAND + 1))
            return
        message.dataset_bytes += len(chunk)
        room = DATASET_HEAD - len(message.dataset_head)
        if room > 0 and not message.dataset_gap:
            message.dataset_head += chunk[:room]

    def _pdv_done(
        self, d: _Direction, direction: int, ts: float, events: list[ProtocolEvent]
    ) -> None:
        d.state = _PDV_HDR
        message = d.message
        if message is None or not d.pdv_last:
            return
        if d.pdv_command:
            if len(message.command_buf) > MAX_COMMAND:
                events.append(self._malformed(ts, direction, "command set too large"))
                d.message = None
                return
            try:
                message.command = parse_command(bytes(message.command_buf))
            except (_Malformed, struct.error) as exc:
                events.append(self._malformed(ts, direction, f"command set: {exc}"))
                d.message = None
                return
            message.command_buf = bytearray()
            if message.command.get("command_data_set_type", NO_DATA_SET) == NO_DATA_SET:
                self._flush_message(d, direction, ts, events)
        else:
            self._flush_message(d, direction, ts, events)

    def _flush_message(
        self,
        d: _Direction,
        direction: int,
        ts: float,
        events: list[ProtocolEvent],
        incomplete: bool = False,
    ) -> None:
        message, d.message = d.message, None
        if message is None or message.command is None:
            return
        command = message.command
        field_code = command.get("command_field")
        status = command.get("status")
        abstract = self._abstract.get(message.context_id)
        sop_class = command.get("affected_sop_class_uid") or command.get("requested_sop_class_uid")
        fields: dict[str, Any] = {
            "command": COMMANDS.get(field_code) if field_code is not None else None,
            "command_field": field_code,
            "message_id": command.get("message_id"),
            "message_id_responded": command.get("message_id_responded"),
            "presentation_context_id": message.context_id,
            "abstract_syntax": abstract,
            "affected_sop_class_uid": sop_class,
            "affected_sop_class": uid_name(sop_class) if sop_class else None,
            "status": status,
            "status_category": status_category(status) if status is not None else None,
            "has_dataset": message.dataset_context_id is not None,
            "dataset_bytes": message.dataset_bytes,
            "incomplete": incomplete,
        }
        for key in (
            "priority",
            "move_destination",
            "move_originator_ae",
            "remaining_sub_operations",
            "completed_sub_operations",
            "failed_sub_operations",
            "warning_sub_operations",
        ):
            if key in command:
                fields[key] = command[key]
        phi = False
        if message.dataset_context_id is not None:
            context = message.dataset_context_id
            facts = scan_dataset(bytes(message.dataset_head), self._accepted.get(context))
            if context not in self._accepted and not self._abstract:
                fields["transfer_syntax_guessed"] = True
            phi = facts.phi
            fields.update(facts.values)
            if facts.error:
                fields["dataset_error"] = facts.error
            if message.dataset_gap:
                fields["dataset_gap"] = True
        events.append(self._event(message.ts, direction, "dimse", fields, phi))
