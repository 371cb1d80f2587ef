"""HTTP/1.x requests and responses, with FHIR awareness.

Headers are parsed, bodies are skipped (their first bytes are only peeked at for a FHIR
``resourceType``). What leaves this module is safe to store: the path without query values
(parameter names only), FHIR logical ids replaced by ``{id}``, the authentication scheme
but never credentials, cookies never.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.phi import catalogue, safe_identifier, split_target

PROTOCOL = "http"
MAX_HEADER_BLOCK = 64 * 1024
MAX_HEADERS = 200
MAX_CHUNK_LINE = 1024
BODY_PEEK = 512
LOST_KEEP = 8 * 1024  # longer than any request line _REQUEST_START accepts
MAX_PENDING = 256

_REQUEST_LINE = re.compile(rb"([A-Z][A-Z_-]{0,19}) (\S{1,65536}) HTTP/(1\.[01])")
_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) (\d{3})(?: (.*))?")
_REQUEST_START = re.compile(
    rb"(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|TRACE|CONNECT) \S{1,4096} HTTP/1\.[01]\r?\n"
)
_RESPONSE_START = re.compile(rb"HTTP/1\.[01] \d{3}[ \r]")
_DECIMAL = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_JSON_TYPE = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]{1,64})"')
_XML_TYPE = re.compile(rb'<([A-Za-z]{1,64})\s[^>]*xmlns\s*=\s*"http://hl7\.org/fhir"')
_FHIR_MEDIA = (
    "application/fhir+json",
    "application/fhir+xml",
    "application/json+fhir",  # pre-STU3 names, still sent by older servers
    "application/xml+fhir",
)
# Search parameters that point at a patient whatever the resource searched.
_PATIENT_PARAMS = {"patient", "subject", "patient:identifier", "subject:identifier"}

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _UNTIL_CLOSE, _TUNNEL, _LOST = range(
    9
)


@dataclass(slots=True)
class FhirTarget:
    """What a request path says about FHIR, with logical ids replaced."""

    path: str
    resource: str | None = None
    interaction: str | None = None
    operation: str | None = None
    has_id: bool = False
    patient_compartment: bool = False


def fhir_target(path: str, method: str) -> FhirTarget:
    """Recognise a FHIR REST path (``/fhir/Patient/123/_history/2``) under any base."""
    known = catalogue().fhir_resources
    parts = path.split("/")
    index = next((i for i, p in enumerate(parts) if p in known), None)
    if index is None:
        if parts and parts[-1] == "metadata":
            return FhirTarget(path, None, "capabilities")
        return FhirTarget(path)
    out = FhirTarget(path, parts[index])
    rest = parts[index + 1 :]
    redacted = parts[: index + 1]
    while rest:
        part = rest.pop(0)
        if part.startswith("$"):
            out.operation = safe_identifier(part, 64)
            redacted.append(part)
        elif part in ("_history", "_search"):
            redacted.append(part)
            if part == "_history" and rest and rest[0]:
                redacted.append("{vid}")
                rest.pop(0)
        elif part in known:
            # Compartment search: /Patient/{id}/Observation.
            if out.resource == "Patient" and out.has_id:
                out.patient_compartment = True
            out.resource = part
            out.has_id = False
            redacted.append(part)
        elif part:
            out.has_id = True
            redacted.append("{id}")
        else:
            redacted.append(part)
    out.path = "/".join(redacted)
    out.interaction = _interaction(method, out, parts[index + 1 :])
    return out


def _interaction(method: str, target: FhirTarget, rest: list[str]) -> str:
    if target.operation:
        return "operation"
    if "_history" in rest:
        return "vread" if target.has_id and rest[-1] != "_history" else "history"
    if "_search" in rest:
        return "search"
    if target.has_id:
        return {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            method, method.lower()
        )
    return {"GET": "search", "POST": "create", "DELETE": "conditional-delete"}.get(
        method, method.lower()
    )


def peek_resource_type(head: bytes) -> str | None:
    """The FHIR resource type named at the start of a JSON or XML body."""
    match = _JSON_TYPE.search(head) or _XML_TYPE.search(head)
    if match is None:
        return None
    name = match.group(1).decode("ascii")
    return name if name in catalogue().fhir_resources else None


@dataclass(slots=True)
class _Message:
    ts: float
    fields: dict[str, Any]
    fhir_resource: str | None = None
    gzip: bool = False
    body_head: bytearray = field(default_factory=bytearray)
    body_bytes: int = 0
    patient_request: bool = False


@dataclass(slots=True)
class _Pending:
    """A request waiting for its response (pipelining keeps them in order)."""

    method: str
    path: str
    depth: int
    fhir_resource: str | None


@dataclass(slots=True)
class _Direction:
    buf: bytearray = field(default_factory=bytearray)
    state: int = _HEAD
    left: int = 0
    message: _Message | None = None
    # Where the search for the end of an incomplete header block resumes, relative to
    # the start of ``buf``: bytes already searched are not searched again on every feed.
    resume: int = 0


class HttpAnalyzer:
    """HTTP/1.0 and 1.1 on one TCP connection, pipelining included."""

    protocol = PROTOCOL

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._dirs = (_Direction(), _Direction())
        self._pending: deque[_Pending] = deque()
        self._depth = 0

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
        if d.state == _TUNNEL:
            return []
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
        if d.state in (_TUNNEL, _UNTIL_CLOSE, _LOST):
            return events
        if not d.buf and d.state in (_BODY, _CHUNK_DATA) and size <= d.left:
            d.left -= size
            if d.message is not None:
                d.message.body_bytes += size
                d.message.fields["body_gap"] = True
            if d.left == 0:
                if d.state == _BODY:
                    self._emit(d, direction, events)
                    d.state = _HEAD
                else:
                    d.state = _CHUNK_CRLF
            return events
        self._emit(d, direction, events)
        events.append(self._malformed(ts, direction, f"{size} bytes missing; message lost"))
        d.buf.clear()
        d.resume = 0
        d.state = _LOST
        return events

    def skippable(self, direction: int) -> int:
        """Upcoming bytes of ``direction`` this analyzer does not need: the rest of a body
        of known size once its head has been peeked at. The last byte is left out so the
        message still ends when its last byte arrives."""
        d = self._dirs[direction]
        if d.state not in (_BODY, _CHUNK_DATA) or d.buf or d.left <= 1:
            return 0
        if d.message is not None and len(d.message.body_head) < BODY_PEEK:
            return 0
        return d.left - 1

    def skip(self, direction: int, size: int) -> None:
        """Account ``size`` bytes (at most ``skippable(direction)``) as read."""
        d = self._dirs[direction]
        size = min(size, self.skippable(direction))
        if size <= 0:
            return
        d.left -= size
        if d.message is not None:
            d.message.body_bytes += size

    def buffered_bytes(self) -> int:
        """Bytes held for both directions (header blocks, peeked body heads)."""
        held = 0
        for d in self._dirs:
            held += len(d.buf) + (len(d.message.body_head) if d.message else 0)
        return held

    def close(self, ts: float) -> list[ProtocolEvent]:
        events: list[ProtocolEvent] = []
        for direction, d in enumerate(self._dirs):
            inside = d.state in (_BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER)
            had_message = d.message is not None
            self._emit(d, direction, events)
            if d.state == _HEAD and bytes(d.buf).strip():
                events.append(self._malformed(ts, direction, "connection closed inside headers"))
            elif inside and had_message:
                events.append(self._malformed(ts, direction, "connection closed inside a body"))
            d.buf.clear()
            d.state = _HEAD
            d.resume = 0
        return events

    # -- parsing

    def _run(self, d: _Direction, direction: int, ts: float, events: list[ProtocolEvent]) -> int:
        buf = d.buf
        pos = 0
        while pos < len(buf) or (d.state == _BODY and d.left == 0):
            if d.state == _HEAD:
                while pos < len(buf) and buf[pos] in b"\r\n":
                    pos += 1  # stray line ends between messages are allowed
                start = max(pos, d.resume)
                end = buf.find(b"\r\n\r\n", start)
                lf_end = buf.find(b"\n\n", start)
                if lf_end >= 0 and (end < 0 or lf_end < end):
                    end, sep = lf_end, 2
                else:
                    sep = 4
                if (end < 0 and len(buf) - pos > MAX_HEADER_BLOCK) or end - pos > MAX_HEADER_BLOCK:
                    events.append(self._malformed(ts, direction, "header block over 65536 bytes"))
                    d.state = _LOST
                    d.resume = 0
                    pos += MAX_HEADER_BLOCK + 1  # the next message starts after this block
                    continue
                if end < 0:
                    # Resume past what was searched (keeping 3 bytes for a split "\r\n\r\n"),
                    # relative to ``pos``, which becomes the start of the kept buffer.
                    d.resume = max(len(buf) - 3 - pos, 0)
                    return pos
                d.resume = 0
                block = bytes(buf[pos:end])
                pos = end + sep
                if direction == ORIG:
                    ok = self._request(d, block, ts, events)
                else:
                    ok = self._response(d, block, ts, events)
                if not ok:
                    d.state = _LOST
            elif d.state == _BODY:
                step = min(len(buf) - pos, d.left)
                self._body(d, buf, pos, step)
                pos += step
                d.left -= step
                if d.left:
                    return pos
                self._emit(d, direction, events)
                d.state = _HEAD
            elif d.state == _CHUNK_SIZE:
                end = buf.find(b"\n", pos)
                if (end < 0 and len(buf) - pos > MAX_CHUNK_LINE) or end - pos > MAX_CHUNK_LINE:
                    events.append(self._malformed(ts, direction, "chunk size line too long"))
                    self._emit(d, direction, events)
                    d.state = _LOST
                    continue
                if end < 0:
                    return pos
                line = bytes(buf[pos:end]).split(b";", 1)[0].strip()
                pos = end + 1
                if not _HEX.fullmatch(line):
                    events.append(self._malformed(ts, direction, "invalid chunk size"))
                    self._emit(d, direction, events)
                    d.state = _LOST
                    continue
                size = int(line, 16)
                if size == 0:
                    d.state = _TRAILER
                else:
                    d.state, d.left = _CHUNK_DATA, size
            elif d.state == _CHUNK_DATA:
                step = min(len(buf) - pos, d.left)
                self._body(d, buf, pos, step)
                pos += step
                d.left -= step
                if d.left:
                    return pos
                d.state = _CHUNK_CRLF
            elif d.state == _CHUNK_CRLF:
                if buf[pos : pos + 2] == b"\r\n":
                    pos += 2
                elif buf[pos : pos + 1] == b"\n":
                    pos += 1
                elif buf[pos : pos + 1] == b"\r" and pos + 1 == len(buf):
                    return pos  # the line feed is in the next chunk
                else:
                    events.append(
                        self._malformed(ts, direction, "chunk data not followed by a line end")
                    )
                    self._emit(d, direction, events)
                    d.state = _LOST
                    continue
                d.state = _CHUNK_SIZE
            elif d.state == _TRAILER:
                end = buf.find(b"\n", pos)
                if (end < 0 and len(buf) - pos > MAX_HEADER_BLOCK) or end - pos > MAX_HEADER_BLOCK:
                    events.append(self._malformed(ts, direction, "trailer line too long"))
                    self._emit(d, direction, events)
                    d.state = _LOST
                    continue
                if end < 0:
                    return pos
                line = bytes(buf[pos:end]).strip()
                pos = end + 1
                if not line:
                    self._emit(d, direction, events)
                    d.state = _HEAD
            elif d.state == _UNTIL_CLOSE:
                step = len(buf) - pos
                self._body(d, buf, pos, step)
                pos += step
            elif d.state == _TUNNEL:
                return len(buf)
            else:  # _LOST
                pattern = _REQUEST_START if direction == ORIG else _RESPONSE_START
                match = pattern.search(buf, pos)
                if match is None:
                    # Keep a tail: a message start may straddle this chunk and the next.
                    return max(pos, len(buf) - LOST_KEEP)
                pos = match.start()
                d.state = _HEAD
        return pos

    @staticmethod
    def _body(d: _Direction, buf: bytearray, pos: int, step: int) -> None:
        message = d.message
        if message is None or step <= 0:
            return
        message.body_bytes += step
        room = BODY_PEEK - len(message.body_head)
        if room > 0:
            message.body_head += buf[pos : pos + min(step, room)]

    # -- messages

    @staticmethod
    def _headers(lines: list[bytes]) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        name = ""
        for raw in lines[: MAX_HEADERS + 1]:
            if raw[:1] in (b" ", b"\t") and name:
                headers[name] += " " + raw.strip().decode("latin-1")  # obsolete folding
                continue
            key, colon, value = raw.partition(b":")
            if not colon or not key or key != key.strip():
                return None
            name = key.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            # Repeated headers: keep the first (duplicate lengths are a smuggling sign).
            headers.setdefault(name, text)
        return headers

    @staticmethod
    def _length(headers: dict[str, str]) -> tuple[bool, int | None]:
        """(chunked, content length) from the framing headers."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return True, None
        value = headers.get("content-length")
        if value is not None and _DECIMAL.fullmatch(value):
            return False, int(value)
        return False, None

    def _request(self, d: _Direction, block: bytes, ts: float, events: list[ProtocolEvent]) -> bool:
        lines = block.replace(b"\r\n", b"\n").split(b"\n")
        match = _REQUEST_LINE.fullmatch(lines[0])
        headers = self._headers(lines[1:]) if match else None
        if match is None or headers is None:
            reason = "invalid request line" if match is None else "invalid header line"
            events.append(self._malformed(ts, ORIG, reason))
            return False
        method = match.group(1).decode("ascii")
        path, params = split_target(match.group(2).decode("latin-1"))
        chunked, length = self._length(headers)
        content_type = safe_identifier(headers.get("content-type", ""), 100) or None
        auth = headers.get("authorization") or headers.get("proxy-authorization") or ""
        scheme = safe_identifier(auth.split(" ", 1)[0], 20) or None
        target = fhir_target(path, method)
        fhir = (
            target.resource is not None
            or _is_fhir_media(content_type)
            or (target.interaction == "capabilities" and _is_fhir_media(headers.get("accept", "")))
        )
        self._depth += 1
        fields: dict[str, Any] = {
            "trans_depth": self._depth,
            "method": method,
            "host": safe_identifier(headers.get("host", "")) or None,
            "path": target.path,
            "query_params": params,
            "version": match.group(3).decode("ascii"),
            "user_agent": safe_identifier(headers.get("user-agent", ""), 256) or None,
            "content_type": content_type,
            "content_length": length,
            "chunked": chunked,
            "auth_scheme": scheme,
            "basic_auth": (scheme or "").lower() == "basic",
            "fhir": fhir,
            "fhir_resource": target.resource if fhir else None,
            "fhir_interaction": target.interaction if fhir else None,
            "fhir_operation": target.operation,
        }
        patient_bearing = catalogue().fhir_patient_resources
        has_body = chunked or bool(length)
        patient_request = fhir and (
            target.patient_compartment
            or bool(_PATIENT_PARAMS & {p.lower() for p in params})
            or (target.resource in patient_bearing and (has_body or bool(params) or target.has_id))
        )
        message = _Message(ts, fields, target.resource if fhir else None)
        message.patient_request = patient_request
        message.gzip = "gzip" in headers.get("content-encoding", "").lower()
        d.message = message
        if len(self._pending) < MAX_PENDING:
            self._pending.append(
                _Pending(method, target.path, self._depth, fields["fhir_resource"])
            )
        self._start_body(d, chunked, length, until_close=False)
        return True

    def _response(
        self, d: _Direction, block: bytes, ts: float, events: list[ProtocolEvent]
    ) -> bool:
        lines = block.replace(b"\r\n", b"\n").split(b"\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        headers = self._headers(lines[1:]) if match else None
        if match is None or headers is None:
            reason = "invalid status line" if match is None else "invalid header line"
            events.append(self._malformed(ts, RESP, reason))
            return False
        status = int(match.group(2))
        interim = 100 <= status < 200 and status != 101
        request = None if interim or not self._pending else self._pending.popleft()
        chunked, length = self._length(headers)
        content_type = safe_identifier(headers.get("content-type", ""), 100) or None
        challenge = headers.get("www-authenticate", "")
        fields: dict[str, Any] = {
            "trans_depth": request.depth if request else None,
            "method": request.method if request else None,
            "path": request.path if request else None,
            "status": status,
            "reason": safe_identifier((match.group(3) or b"").decode("latin-1"), 64) or None,
            "version": match.group(1).decode("ascii"),
            "server": safe_identifier(headers.get("server", ""), 256) or None,
            "content_type": content_type,
            "content_length": length,
            "chunked": chunked,
            "auth_challenge": safe_identifier(challenge.split(" ", 1)[0], 20) or None,
            "fhir": _is_fhir_media(content_type) or bool(request and request.fhir_resource),
            "fhir_resource": request.fhir_resource if request else None,
        }
        message = _Message(ts, fields, fields["fhir_resource"])
        message.gzip = "gzip" in headers.get("content-encoding", "").lower()
        d.message = message
        method = request.method if request else ""
        tunnel = status == 101 or (method == "CONNECT" and 200 <= status < 300)
        if tunnel:
            self._emit(d, RESP, events)
            for side in self._dirs:
                side.state = _TUNNEL
                side.buf.clear()
            return True
        no_body = interim or method == "HEAD" or status in (204, 304)
        if no_body:
            self._start_body(d, False, 0, until_close=False)
        else:
            self._start_body(d, chunked, length, until_close=length is None and not chunked)
        return True

    @staticmethod
    def _start_body(d: _Direction, chunked: bool, length: int | None, until_close: bool) -> None:
        if chunked:
            d.state = _CHUNK_SIZE
        elif until_close:
            d.state = _UNTIL_CLOSE
        else:
            d.state, d.left = _BODY, length or 0

    def _emit(self, d: _Direction, direction: int, events: list[ProtocolEvent]) -> None:
        message, d.message = d.message, None
        if message is None:
            return
        fields = message.fields
        peeked = None if message.gzip else peek_resource_type(bytes(message.body_head))
        if peeked is not None:
            fields["fhir"] = True
            fields["fhir_resource"] = peeked
        patient_bearing = catalogue().fhir_patient_resources
        if direction == ORIG:
            phi = message.patient_request or (
                peeked is not None and peeked in patient_bearing and message.body_bytes > 0
            )
        else:
            fields["body_bytes"] = message.body_bytes
            resource = fields["fhir_resource"]
            phi = bool(
                fields["fhir"]
                and message.body_bytes > 0
                and resource in patient_bearing
                and 200 <= fields["status"] < 300
            )
        kind = "request" if direction == ORIG else "response"
        events.append(self._event(message.ts, direction, kind, fields, phi))


def _is_fhir_media(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _FHIR_MEDIA
