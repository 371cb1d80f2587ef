"""TLS (SSLv3 to TLS 1.3) over TCP: what is visible before encryption starts.

The record layer is followed for the whole connection (headers only once encrypted),
handshake messages are reassembled across records, and these events come out:

``client_hello``  versions, SNI, ALPN, cipher suites, extensions, groups, signature
                  algorithms, JA4 / JA4_r / JA3 fingerprints (``tls_fingerprint``)
``server_hello``  selected version and cipher, ALPN, JA3S (``hello_retry_request`` for
                  a TLS 1.3 retry)
``certificate``   the chain in clear (TLS 1.2 and older): subject/issuer, CN, validity,
                  serial, SHA-1, self-signed flag (``tls_cert``); from the server
                  (direction resp) or the client (orig, mutual TLS)
``certificate_request``  the server asks for a client certificate
``alert``         level and description, or ``encrypted: true`` when it is protected
``heartbeat``     type and lengths (a declared payload longer than the record is the
                  Heartbleed pattern: ``overlong: true``)
``malformed``     with ``reason``: ``bad_record_header``, ``record_too_long``,
                  ``bad_hello``, ``bad_certificate_message``, ``oversized_handshake``

Nothing is buffered beyond one record (18 KB) and one handshake message
(``MAX_HANDSHAKE``); application data is skipped unread.
"""

from __future__ import annotations

import struct
from typing import Any

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.tls_cert import summarize
from medsentry.protocols.tls_fingerprint import HelloFacts, ja3, ja3s, ja4
from medsentry.protocols.tls_names import (
    ALERTS,
    HELLO_RETRY_RANDOM,
    cipher_name,
    is_grease,
    version_name,
)

PROTOCOL = "tls"
PORTS = (443, 8443, 8883, 2762, 11112, 6514, 5061, 636, 993, 995, 465)

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
MAX_RECORD = 16384 + 2048  # TLSCiphertext limit
MAX_HANDSHAKE = 128 * 1024  # longest handshake message reassembled (certificate chains)
MAX_CERTIFICATES = 10
_CLIENT_HELLO, _SERVER_HELLO, _CERTIFICATE, _CERTIFICATE_REQUEST = 1, 2, 11, 13


class _Bad(Exception):
    """A handshake message does not hold together."""


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise _Bad("truncated")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_size: int) -> _Reader:
        """A sub-reader over a length-prefixed vector, which is skipped here."""
        size = self.uint(length_size)
        start = self.pos
        self.take(size)
        return _Reader(self.data, start, start + size)

    def left(self) -> int:
        return self.end - self.pos

    def u16_list(self) -> list[int]:
        size = self.left()
        if size % 2:
            raise _Bad("odd list length")
        return list(struct.unpack(f"!{size // 2}H", self.take(size)))


def _extensions(r: _Reader) -> list[tuple[int, _Reader]]:
    out: list[tuple[int, _Reader]] = []
    if not r.left():  # extensions are optional in old hellos
        return out
    block = r.vector(2)
    while block.left():
        ext_type = block.uint(2)
        out.append((ext_type, block.vector(2)))
    return out


def _sni(r: _Reader) -> str | None:
    names = r.vector(2)
    while names.left():
        name_type = names.uint(1)
        value = names.vector(2)
        if name_type == 0:
            return value.take(value.left()).decode("ascii", errors="backslashreplace")
    return None


def _alpn(r: _Reader) -> list[bytes]:
    protocols = r.vector(2)
    out = []
    while protocols.left():
        entry = protocols.vector(1)
        out.append(entry.take(entry.left()))
    return out


def _text(values: list[bytes]) -> list[str]:
    return [v.decode("ascii", errors="backslashreplace") for v in values]


def parse_client_hello(body: bytes) -> dict[str, Any]:
    """Fields of a ClientHello body (after the 4-byte handshake header)."""
    r = _Reader(body)
    facts = HelloFacts(legacy_version=r.uint(2))
    r.take(32)  # random
    session_id = r.vector(1)
    ciphers = r.vector(2)
    facts.cipher_suites = ciphers.u16_list()
    compression = r.vector(1)
    f: dict[str, Any] = {
        "legacy_version": version_name(facts.legacy_version),
        "session_id_length": session_id.left(),
        "compression_methods": list(compression.take(compression.left())),
    }
    sni: str | None = None
    sni_present = False
    key_share: list[int] = []
    for ext_type, ext in _extensions(r):
        facts.extensions.append(ext_type)
        if ext_type == 0:
            sni_present = True
            sni = _sni(ext) if ext.left() else None
        elif ext_type == 16:
            facts.alpn = _alpn(ext)
        elif ext_type == 10:
            facts.supported_groups = ext.vector(2).u16_list()
        elif ext_type == 11:
            points = ext.vector(1)
            facts.ec_point_formats = list(points.take(points.left()))
        elif ext_type == 13:
            facts.signature_algorithms = ext.vector(2).u16_list()
        elif ext_type == 43:
            facts.supported_versions = ext.vector(1).u16_list()
        elif ext_type == 51:
            shares = ext.vector(2)
            while shares.left():
                key_share.append(shares.uint(2))
                shares.vector(2)
    if r.left():
        raise _Bad("trailing bytes")
    offered = [v for v in facts.supported_versions if not is_grease(v)] or [facts.legacy_version]
    f.update(
        versions=[version_name(v) for v in offered],
        max_version=version_name(max(offered)),
        sni=sni,
        alpn=_text(facts.alpn),
        cipher_suites=facts.cipher_suites,
        extensions=facts.extensions,
        supported_groups=facts.supported_groups,
        ec_point_formats=facts.ec_point_formats,
        signature_algorithms=facts.signature_algorithms,
        key_share_groups=key_share,
    )
    f["ja4"], f["ja4_r"] = ja4(facts, sni_present)
    f["ja3"], f["ja3_string"] = ja3(facts)
    return f


def parse_server_hello(body: bytes) -> dict[str, Any]:
    """Fields of a ServerHello body; ``hello_retry_request`` for a TLS 1.3 retry."""
    r = _Reader(body)
    legacy = r.uint(2)
    random = r.take(32)
    draft = legacy >> 8 == 0x7F  # TLS 1.3 drafts: no session id, no compression
    session_id = _Reader(b"") if draft else r.vector(1)
    cipher = r.uint(2)
    compression = 0 if draft else r.uint(1)
    version = legacy
    alpn: list[bytes] = []
    extensions: list[int] = []
    for ext_type, ext in _extensions(r):
        extensions.append(ext_type)
        if ext_type == 43:
            version = ext.uint(2)
        elif ext_type == 16:
            alpn = _alpn(ext)
    f: dict[str, Any] = {
        "legacy_version": version_name(legacy),
        "version": version_name(version),
        "cipher_suite": cipher,
        "cipher_name": cipher_name(cipher),
        "compression_method": compression,
        "session_id_length": session_id.left(),
        "alpn": _text(alpn)[0] if alpn else None,
        "extensions": extensions,
        "hello_retry_request": random == HELLO_RETRY_RANDOM,
    }
    f["ja3s"], f["ja3s_string"] = ja3s(legacy, cipher, extensions)
    f["_version"] = version
    return f


def parse_certificates(body: bytes) -> list[dict[str, Any]]:
    """The chain of a TLS 1.2-style Certificate message, leaf first."""
    chain = _Reader(body).vector(3)
    out: list[dict[str, Any]] = []
    while chain.left():
        der = chain.vector(3)
        if len(out) < MAX_CERTIFICATES:
            out.append(summarize(der.take(der.left())))
    return out


class _Side:
    """Parsing state of one direction."""

    __slots__ = ("buf", "encrypted", "hs", "hs_skip", "skip", "started", "synced")

    def __init__(self) -> None:
        self.buf = bytearray()  # bytes of the current record (header + body)
        self.skip = 0  # bytes of a record body passed over unread
        self.hs = bytearray()  # handshake bytes waiting for a complete message
        self.hs_skip = 0  # bytes of an oversized handshake message passed over
        self.encrypted = False  # handshake records of this side are now protected
        self.synced = True
        self.started = False  # a first valid record was seen


class TlsAnalyzer:
    """Stream analyzer for one TLS connection."""

    protocol = PROTOCOL

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.version: int | None = None  # negotiated, from the ServerHello
        self._sides = (_Side(), _Side())

    def buffered_bytes(self) -> int:
        return sum(len(s.buf) + len(s.hs) for s in self._sides)

    @property
    def handshake_done(self) -> bool:
        """Both directions are encrypted: only record headers remain to be seen, so a
        pipeline short of time may stop feeding this connection."""
        return self._sides[ORIG].encrypted and self._sides[RESP].encrypted

    # -- StreamAnalyzer -------------------------------------------------------------------

    def feed(self, direction: int, data: bytes, ts: float) -> list[ProtocolEvent]:
        d = RESP if direction else ORIG
        side = self._sides[d]
        events: list[ProtocolEvent] = []
        if side.skip:
            dropped = min(side.skip, len(data))
            side.skip -= dropped
            data = data[dropped:]
        if not data:
            return events
        buf = side.buf
        buf += data
        pos = 0
        while len(buf) - pos >= 5:
            if not side.synced:
                found = _resync(buf, pos)
                if found is None:
                    pos = max(pos, len(buf) - 4)  # keep a tail that may start a header
                    break
                if found < 0:
                    pos = -found - 1
                    break
                pos, side.synced = found, True
            if d == ORIG and not side.started and _sslv2_start(buf, pos):
                consumed = self._sslv2_hello(d, buf, pos, ts, events)
                if consumed == 0:
                    break
                pos += consumed
                continue
            ctype, major, minor = buf[pos], buf[pos + 1], buf[pos + 2]
            length = (buf[pos + 3] << 8) | buf[pos + 4]
            if not (CHANGE_CIPHER_SPEC <= ctype <= HEARTBEAT and major == 3 and minor <= 4):
                events.append(self._malformed(d, ts, "bad_record_header"))
                side.synced = False
                pos += 1
                continue
            if length > MAX_RECORD:
                events.append(self._malformed(d, ts, "record_too_long"))
                side.synced = False
                pos += 1
                continue
            side.started = True
            if not self._wants_body(side, ctype):
                events += self._opaque_record(d, ctype, length, ts)
                available = min(len(buf) - pos - 5, length)
                side.skip = length - available
                pos += 5 + available
                continue
            if len(buf) - pos < 5 + length:
                break
            body = bytes(buf[pos + 5 : pos + 5 + length])
            pos += 5 + length
            events += self._record(d, ctype, body, ts)
        del buf[:pos]
        return events

    def gap(self, direction: int, size: int, ts: float) -> list[ProtocolEvent]:
        side = self._sides[RESP if direction else ORIG]
        if side.skip >= size:  # inside a record we skip anyway
            side.skip -= size
            return []
        side.skip = side.hs_skip = 0
        side.buf.clear()
        side.hs.clear()
        side.synced = False
        return []

    def close(self, ts: float) -> list[ProtocolEvent]:
        # A connection cut inside a record is ordinary for captures; nothing to report.
        for side in self._sides:
            side.buf.clear()
            side.hs.clear()
        return []

    # -- records --------------------------------------------------------------------------

    @staticmethod
    def _wants_body(side: _Side, ctype: int) -> bool:
        if ctype == APPLICATION_DATA:
            return False
        return not (side.encrypted and ctype in (HANDSHAKE, ALERT, HEARTBEAT))

    def _opaque_record(self, d: int, ctype: int, length: int, ts: float) -> list[ProtocolEvent]:
        """A record whose body is not read: encrypted alerts and heartbeats still count."""
        if ctype == ALERT:
            fields = {"encrypted": True, "length": length}
            return [ProtocolEvent(ts, self.uid, PROTOCOL, "alert", d, fields)]
        if ctype == HEARTBEAT:
            fields = {"encrypted": True, "record_length": length}
            return [ProtocolEvent(ts, self.uid, PROTOCOL, "heartbeat", d, fields)]
        return []

    def _record(self, d: int, ctype: int, body: bytes, ts: float) -> list[ProtocolEvent]:
        side = self._sides[d]
        if ctype == HANDSHAKE:
            return self._handshake_bytes(d, body, ts)
        if ctype == CHANGE_CIPHER_SPEC:
            side.encrypted = True
            return []
        if ctype == ALERT:
            if len(body) != 2:  # protected by a cipher we did not see negotiated
                fields: dict[str, Any] = {"encrypted": True, "length": len(body)}
            else:
                level, desc = body
                fields = {
                    "encrypted": False,
                    "level": "fatal" if level == 2 else "warning" if level == 1 else str(level),
                    "description": desc,
                    "description_name": ALERTS.get(desc, str(desc)),
                }
            return [ProtocolEvent(ts, self.uid, PROTOCOL, "alert", d, fields)]
        # heartbeat: type, declared payload length, payload, at least 16 bytes of padding
        fields = {"encrypted": False, "record_length": len(body)}
        if len(body) >= 3:
            declared = int.from_bytes(body[1:3], "big")
            fields.update(
                type="request" if body[0] == 1 else "response" if body[0] == 2 else str(body[0]),
                payload_length=declared,
                overlong=declared + 3 + 16 > len(body),
            )
        return [ProtocolEvent(ts, self.uid, PROTOCOL, "heartbeat", d, fields)]

    def _handshake_bytes(self, d: int, data: bytes, ts: float) -> list[ProtocolEvent]:
        side = self._sides[d]
        if side.hs_skip:
            dropped = min(side.hs_skip, len(data))
            side.hs_skip -= dropped
            data = data[dropped:]
        side.hs += data
        events: list[ProtocolEvent] = []
        hs = side.hs
        pos = 0
        while len(hs) - pos >= 4 and not side.encrypted:
            msg_type = hs[pos]
            length = int.from_bytes(hs[pos + 1 : pos + 4], "big")
            if length > MAX_HANDSHAKE:
                events.append(self._malformed(d, ts, "oversized_handshake", msg_type=msg_type))
                available = min(len(hs) - pos - 4, length)
                side.hs_skip = length - available
                pos += 4 + available
                continue
            if len(hs) - pos - 4 < length:
                break
            body = bytes(hs[pos + 4 : pos + 4 + length])
            pos += 4 + length
            events += self._handshake(d, msg_type, body, ts)
        del hs[:pos]
        if side.encrypted:
            hs.clear()
        return events

    def _handshake(self, d: int, msg_type: int, body: bytes, ts: float) -> list[ProtocolEvent]:
        try:
            if msg_type == _CLIENT_HELLO:
                return [self._event(d, "client_hello", parse_client_hello(body), ts)]
            if msg_type == _SERVER_HELLO:
                fields = parse_server_hello(body)
                version = fields.pop("_version")
                if fields["hello_retry_request"]:
                    return [self._event(d, "hello_retry_request", fields, ts)]
                self.version = version
                if version == 0x0304 or version >> 8 == 0x7F:  # the rest is protected
                    for side in self._sides:
                        side.encrypted = True
                return [self._event(d, "server_hello", fields, ts)]
            if msg_type == _CERTIFICATE:
                chain = parse_certificates(body)
                fields = {"chain": chain, "chain_length": len(chain)}
                if chain:
                    fields.update({k: v for k, v in chain[0].items() if k != "size"})
                return [self._event(d, "certificate", fields, ts)]
            if msg_type == _CERTIFICATE_REQUEST:
                return [self._event(d, "certificate_request", {}, ts)]
        except _Bad as exc:
            reason = "bad_certificate_message" if msg_type == _CERTIFICATE else "bad_hello"
            return [self._malformed(d, ts, reason, msg_type=msg_type, detail=str(exc))]
        return []

    def _sslv2_hello(
        self, d: int, buf: bytearray, pos: int, ts: float, events: list[ProtocolEvent]
    ) -> int:
        """An SSLv2-format CLIENT-HELLO (old clients); returns bytes used, 0 if partial."""
        length = ((buf[pos] & 0x7F) << 8) | buf[pos + 1]
        if len(buf) - pos < 2 + length:
            return 0
        body = bytes(buf[pos + 2 : pos + 2 + length])
        self._sides[d].started = True
        if len(body) < 9 or body[0] != 1:
            events.append(self._malformed(d, ts, "bad_record_header"))
            self._sides[d].synced = False
            return 2 + length
        version = int.from_bytes(body[1:3], "big")
        spec_len = int.from_bytes(body[3:5], "big")
        specs = body[9 : 9 + spec_len]
        suites = [
            int.from_bytes(specs[i + 1 : i + 3], "big")
            for i in range(0, len(specs) - 2, 3)
            if specs[i] == 0
        ]
        fields = {
            "sslv2_format": True,
            "legacy_version": version_name(version),
            "versions": [version_name(version)],
            "max_version": version_name(version),
            "sni": None,
            "alpn": [],
            "cipher_suites": suites,
            "extensions": [],
        }
        events.append(self._event(d, "client_hello", fields, ts))
        return 2 + length

    def _event(self, d: int, kind: str, fields: dict[str, Any], ts: float) -> ProtocolEvent:
        return ProtocolEvent(ts, self.uid, PROTOCOL, kind, d, fields)

    def _malformed(
        self, d: int, ts: float, reason: str, msg_type: int | None = None, detail: str = ""
    ) -> ProtocolEvent:
        fields: dict[str, Any] = {"reason": reason}
        if msg_type is not None:
            fields["msg_type"] = msg_type
        if detail:
            fields["detail"] = detail
        return ProtocolEvent(ts, self.uid, PROTOCOL, "malformed", d, fields)


def _sslv2_start(buf: bytearray, pos: int) -> bool:
    """An SSLv2 record header (high bit set) holding a CLIENT-HELLO of SSL 2 or 3."""
    return bool(buf[pos] & 0x80) and buf[pos + 2] == 1 and buf[pos + 3] in (0, 2, 3)


def _plausible_header(buf: bytearray, pos: int) -> bool:
    ctype, major, minor = buf[pos], buf[pos + 1], buf[pos + 2]
    length = (buf[pos + 3] << 8) | buf[pos + 4]
    return (
        CHANGE_CIPHER_SPEC <= ctype <= HEARTBEAT
        and major == 3
        and minor <= 4
        and 0 < length <= MAX_RECORD
    )


def _resync(buf: bytearray, start: int) -> int | None:
    """Next offset where two consecutive plausible record headers follow each other.

    Returns the offset, ``-(offset+1)`` when a candidate needs more bytes to be judged,
    or None when no offset before the last four bytes can start a record.
    """
    last = len(buf) - 5  # the final position a 5-byte header can start at
    pos = start
    while pos <= last:
        # Every record header has major version 3 in its second byte: jump between
        # those bytes with find() instead of testing every offset in Python.
        k = buf.find(3, pos + 1, last + 2)
        if k < 0:
            return None
        pos = k - 1
        if _plausible_header(buf, pos):
            following = pos + 5 + ((buf[pos + 3] << 8) | buf[pos + 4])
            if following + 5 > len(buf):
                return -(pos + 1)
            if _plausible_header(buf, following):
                return pos
        pos += 1
    return None


def looks_like_tls(data: bytes) -> bool:
    """Whether the first client bytes of a TCP stream are a TLS (or SSLv2) ClientHello."""
    if len(data) >= 6 and data[0] == HANDSHAKE and data[1] == 3 and data[2] <= 4:
        return data[5] == _CLIENT_HELLO
    return len(data) >= 5 and bool(data[0] & 0x80) and data[2] == 1 and data[3] in (2, 3)
