"""Client and server fingerprints of TLS hellos: JA4 (client), JA3 and JA3S.

JA4, as computed here from the public FoxIO description (``a_b_c``):

``a`` (10 characters)
  * ``t`` — TLS over TCP (this analyzer sees nothing else);
  * version, 2 characters — the highest non-GREASE value of the supported_versions
    extension, else the ClientHello legacy version: ``13`` ``12`` ``11`` ``10`` ``s3``
    ``s2``, ``d1`` ``d2`` ``d3`` for DTLS, ``00`` for anything else (drafts included);
  * ``d`` if a server_name extension is present, else ``i``;
  * number of cipher suites, 2 decimal digits, GREASE excluded, capped at 99;
  * number of extensions, 2 decimal digits, GREASE excluded (SNI and ALPN counted),
    capped at 99;
  * first and last character of the first ALPN value; ``00`` without ALPN; when
    either is not an ASCII letter or digit, the first and last character of the hex
    form of that ALPN value instead.
``b`` (12 characters)
  first 12 hex digits of the SHA-256 of the cipher suites as 4-digit lower-case hex,
  GREASE excluded, sorted, joined with ``,``; ``000000000000`` when there are none.
``c`` (12 characters)
  first 12 hex digits of the SHA-256 of: the extensions as 4-digit hex, GREASE,
  server_name (0x0000) and ALPN (0x0010) excluded, sorted, joined with ``,``; then, if
  the client sent signature algorithms, ``_`` and those as 4-digit hex in the order
  sent, joined with ``,``. ``000000000000`` when no extension remains.

``ja4_r`` is the same with the unhashed lists in place of ``b`` and ``c``.

JA3 is the MD5 of ``version,ciphers,extensions,groups,point_formats`` (decimal values,
``-``-joined, GREASE excluded, legacy version); JA3S the MD5 of
``version,cipher,extensions`` of the ServerHello.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from medsentry.protocols.tls_names import is_grease

_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
_EMPTY = "000000000000"
_SNI, _ALPN = 0x0000, 0x0010


@dataclass
class HelloFacts:
    """What the fingerprints are computed from (all values as sent, GREASE included)."""

    legacy_version: int
    cipher_suites: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    supported_groups: list[int] = field(default_factory=list)
    ec_point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    alpn: list[bytes] = field(default_factory=list)


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else _EMPTY


def _alpn_chars(first: bytes) -> str:
    if not first:
        return "00"
    a, z = chr(first[0]), chr(first[-1])
    if a.isascii() and a.isalnum() and z.isascii() and z.isalnum():
        return a + z
    text = first.hex()
    return text[0] + text[-1]


def ja4(hello: HelloFacts, sni_present: bool) -> tuple[str, str]:
    """(JA4, JA4_r) of a ClientHello."""
    versions = [v for v in hello.supported_versions if not is_grease(v)]
    version = _JA4_VERSIONS.get(max(versions) if versions else hello.legacy_version, "00")
    ciphers = [c for c in hello.cipher_suites if not is_grease(c)]
    extensions = [e for e in hello.extensions if not is_grease(e)]
    a = (
        f"t{version}{'d' if sni_present else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}"
        f"{_alpn_chars(hello.alpn[0] if hello.alpn else b'')}"
    )
    b_raw = ",".join(sorted(f"{c:04x}" for c in ciphers))
    c_raw = ",".join(sorted(f"{e:04x}" for e in extensions if e not in (_SNI, _ALPN)))
    if c_raw and hello.signature_algorithms:
        c_raw += "_" + ",".join(f"{s:04x}" for s in hello.signature_algorithms)
    b_hash = _sha12(b_raw)
    c_hash = _sha12(c_raw) if c_raw else _EMPTY
    return f"{a}_{b_hash}_{c_hash}", f"{a}_{b_raw}_{c_raw}"


def _dash(values: list[int]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def ja3(hello: HelloFacts) -> tuple[str, str]:
    """(JA3 hash, JA3 string) of a ClientHello."""
    text = ",".join(
        [
            str(hello.legacy_version),
            _dash(hello.cipher_suites),
            _dash(hello.extensions),
            _dash(hello.supported_groups),
            _dash(hello.ec_point_formats),
        ]
    )
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(), text


def ja3s(version: int, cipher: int, extensions: list[int]) -> tuple[str, str]:
    """(JA3S hash, JA3S string) of a ServerHello."""
    text = f"{version},{cipher},{_dash(extensions)}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(), text
