"""Which analyzer reads a TCP flow: by the first bytes of either direction, on any port.

The pipeline calls ``guess_protocol`` with the first payload bytes it has of each
direction (either may be empty) and builds ``ANALYZERS[name](uid)`` for the answer.
Content wins over ports: HL7 on 7710, DICOM on 4242 or TLS on 8080 are recognised as
such; ``ports_hint`` is the fallback (and lets the pipeline decide, before any payload,
which new flows are worth reassembling).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from medsentry.protocols import services
from medsentry.protocols.base import StreamAnalyzer
from medsentry.protocols.dicom import MAX_ASSOCIATE_PDU, DicomAnalyzer
from medsentry.protocols.hl7 import HL7Analyzer
from medsentry.protocols.http import HttpAnalyzer
from medsentry.protocols.mqtt import looks_like_mqtt
from medsentry.protocols.tls import looks_like_tls

ANALYZERS: dict[str, Callable[[str], StreamAnalyzer]] = {
    **services.STREAM_ANALYZERS,
    "hl7": HL7Analyzer,
    "dicom": DicomAnalyzer,
    "http": HttpAnalyzer,
}

# Well-known TCP ports of the analysed protocols (IANA, plus the common HL7 6661).
PORT_HINTS: dict[int, str] = {
    **services.TCP_PORTS,
    2575: "hl7",
    6661: "hl7",
    104: "dicom",
    11112: "dicom",
    2762: "tls",  # DICOM over TLS
    1883: "mqtt",
    8883: "tls",  # MQTT over TLS
    80: "http",
    8080: "http",
    443: "tls",
}

_HTTP_METHODS = (
    b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT",
)  # fmt: skip
_HTTP_REQUEST = re.compile(rb"([A-Z]{3,7}) [!-~]")
_AE_TITLE = re.compile(rb"[ -~]{16}")


def ports_hint(port: int) -> str | None:
    """The protocol a well-known TCP port usually carries, or None."""
    return PORT_HINTS.get(port)


def looks_like_hl7(data: bytes) -> bool:
    """An MLLP start block followed by an MSH segment (line ends tolerated between)."""
    if not data or data[0] != 0x0B:
        return False
    body = data[1:].lstrip(b"\r\n")
    return len(body) >= 4 and body.startswith(b"MSH") and not body[3:4].isalnum()


def looks_like_dicom_associate(data: bytes, pdu_types: tuple[int, ...] = (0x01,)) -> bool:
    """An A-ASSOCIATE PDU header: type, sane length, protocol version 1, printable AEs."""
    if len(data) < 8 or data[0] not in pdu_types or data[1] != 0:
        return False
    (length,) = struct.unpack_from(">I", data, 2)
    if not 68 <= length <= MAX_ASSOCIATE_PDU or data[6:8] != b"\x00\x01":
        return False
    titles = data[10:42]
    return len(titles) < 32 or all(_AE_TITLE.fullmatch(t) for t in (titles[:16], titles[16:]))


def looks_like_dicom_reject(data: bytes) -> bool:
    return len(data) >= 10 and data[:6] == b"\x03\x00\x00\x00\x00\x04" and data[7] in (1, 2)


def looks_like_http_request(data: bytes) -> bool:
    match = _HTTP_REQUEST.match(data)
    if match is None or match.group(1) not in _HTTP_METHODS:
        return False
    line_end = data.find(b"\n")
    return line_end < 0 or b" HTTP/1." in data[:line_end]


def looks_like_tls_server(data: bytes) -> bool:
    """A TLS record carrying a ServerHello (or an alert answering the client)."""
    return len(data) >= 6 and data[0] in (0x15, 0x16) and data[1] == 3 and data[2] <= 4


_ORIG_PROBES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("tls", looks_like_tls),
    ("dicom", looks_like_dicom_associate),
    ("hl7", looks_like_hl7),
    ("http", looks_like_http_request),
    ("mqtt", looks_like_mqtt),
)
_RESP_PROBES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("tls", looks_like_tls_server),
    ("dicom", lambda d: looks_like_dicom_associate(d, (0x02,)) or looks_like_dicom_reject(d)),
    ("hl7", looks_like_hl7),
    ("http", lambda d: d.startswith(b"HTTP/1.")),
)


def guess_protocol(first_orig: bytes, first_resp: bytes, sport: int, dport: int) -> str | None:
    """The analyzer name for a TCP flow, from its first bytes, else from its ports.

    ``sport``/``dport`` are the originator's source and destination ports. Returns None
    when neither content nor ports point at an analysed protocol.
    """
    for name, probe in _ORIG_PROBES:
        if first_orig and probe(first_orig):
            return name
    for name, probe in _RESP_PROBES:
        if first_resp and probe(first_resp):
            return name
    # Unrecognised (or no) payload: a capture that starts mid-conversation still gets
    # its analyzer from the port; every analyzer resynchronises on its own framing.
    return ports_hint(dport) or ports_hint(sport)
