"""Summaries of X.509 certificates seen in clear (TLS 1.2 and older handshakes)."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

# Short attribute names, as OpenSSL's one-line form prints them.
_SHORT = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.STREET_ADDRESS: "street",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
}


def _one_line(name: x509.Name) -> str:
    """``C=HU, ST=Budapest, O=..., CN=...`` in the certificate's own order."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _SHORT.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _cn(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.hex()


def _serial(number: int) -> str:
    """The serial as its DER integer bytes, like ``00:C7:D4:...`` (sign byte kept)."""
    raw = number.to_bytes(number.bit_length() // 8 + 1, "big", signed=number < 0)
    return ":".join(f"{b:02X}" for b in raw)


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec-{key.curve.name}", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456
    return "other", None


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # bad signature, or a key type the library cannot check
        return False
    return True


def summarize(der: bytes) -> dict[str, Any]:
    """Identity facts of one DER certificate; ``{"error": ...}`` if it does not parse."""
    fingerprint = hashlib.sha1(der, usedforsecurity=False).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
        out: dict[str, Any] = {
            "subject": _one_line(cert.subject),
            "issuer": _one_line(cert.issuer),
            "subject_cn": _cn(cert.subject),
            "issuer_cn": _cn(cert.issuer),
            "serial": _serial(cert.serial_number),
            "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%S"),
            "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S"),
            "self_signed": _self_signed(cert),
        }
        out["key_type"], out["key_bits"] = _key(cert)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            out["san_dns"] = san.value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            pass
    except Exception as exc:  # a malformed certificate is a fact to report, not a crash
        return {"error": type(exc).__name__, "size": len(der), "sha1": _colons(fingerprint)}
    out["sha1"] = _colons(fingerprint)
    out["size"] = len(der)
    return out


def _colons(hexdigest: str) -> str:
    return ":".join(hexdigest[i : i + 2] for i in range(0, len(hexdigest), 2))
