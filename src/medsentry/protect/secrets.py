"""Breadcrumbs and secrets in device software, reported with masked previews only.

A finding never carries a secret in full: :func:`mask` keeps at most a short prefix and the
length, so reports, JSON and terminal output are safe to share.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from pydantic import BaseModel

from medsentry.protect.datafiles import load_model
from medsentry.protect.formats import Buffer

Severity = Literal["info", "low", "medium", "high", "critical"]
Category = Literal["secret", "credential", "certificate", "endpoint", "leftover", "permission"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

_MAX_TEXT_BYTES = 8 * 1024 * 1024
_MAX_DER_BYTES = 16 * 1024
_MAX_ENDPOINTS_PER_FILE = 20
_CA_BUNDLE_MIN = 6

_PEM = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]{3,40})-----(?P<body>[A-Za-z0-9+/=\s:,\-]{16,65536}?)"
    rb"-----END (?P=label)-----"
)
_URL = re.compile(rb"://(?P<rest>[^\s\"'<>\x00-\x1f\x7f-\xff\\`^{}|]{3,200})")
_SCHEME_CHAR = re.compile(rb"[A-Za-z0-9+.-]")
_IPV4 = re.compile(rb"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_HASH_FIELD = re.compile(
    r"^(?:\$(?:1|2[abxy]?|5|6|y|gy|7|md5|sha1|apr1|pbkdf2[-\w]*)\$[^:\s]{4,}"
    r"|\{S?SHA\}[A-Za-z0-9+/=]{20,}|[./0-9A-Za-z]{13})$"
)
_ACCOUNT_FILES = re.compile(r"(?:^|/)(?:shadow|passwd|master\.passwd|\.?htpasswd|htpasswd\.\w+)$")
_HOST_KEY_BLOB = re.compile(
    rb"^\x00\x00\x00[\x07\x0b\x13](?:ssh-rsa|ssh-dss|ssh-ed25519|ecdsa-sha2)"
)


class TokenRule(BaseModel):
    id: str
    title: str
    regex: str
    severity: Severity


class LeftoverRule(BaseModel):
    regex: str
    title: str
    severity: Severity
    path: str | None = None


class SecretRules(BaseModel):
    tokens: list[TokenRule]
    credential_keys: list[str]
    default_passwords: list[str]
    ignore_values: list[str]
    leftover_files: list[LeftoverRule]
    leftover_lines: list[LeftoverRule]
    benign_url_hosts: list[str]
    documentation_paths: list[str]
    well_known_ips: list[str]


@cache
def default_rules() -> SecretRules:
    return load_model("secrets.yaml", SecretRules)


@dataclass(frozen=True)
class SecretFinding:
    rule: str
    category: Category
    severity: Severity
    title: str
    location: str
    preview: str  # masked: never the secret in full
    detail: str = ""
    line: int | None = None
    offset: int | None = None


def mask(value: str, keep: int = 4) -> str:
    """A preview that shows at most a quarter of ``value`` (and never more than ``keep``)."""
    shown = min(keep, len(value) // 4)
    return f"{value[:shown]}…[{len(value)} chars]"


def is_text(head: bytes) -> bool:
    """Heuristic: no NUL bytes and mostly printable in the first block."""
    if not head:
        return True
    if b"\x00" in head:
        return False
    printable = sum(1 for b in head if b in (9, 10, 13) or 32 <= b < 127 or b >= 0x80)
    return printable / len(head) > 0.95


class SecretScanner:
    """Applies the rules to one file at a time."""

    def __init__(self, rules: SecretRules | None = None, now: datetime | None = None) -> None:
        self.rules = rules or default_rules()
        self.now = now or datetime.now(UTC)
        self._tokens = [(r, re.compile(r.regex.encode())) for r in self.rules.tokens]
        self._leftover_files = [(r, re.compile(r.regex)) for r in self.rules.leftover_files]
        self._leftover_lines = [
            (r, re.compile(r.regex.encode()), re.compile(r.path) if r.path else None)
            for r in self.rules.leftover_lines
        ]
        keys = "|".join(re.escape(k) for k in sorted(self.rules.credential_keys, key=len)[::-1])
        # key = value / key: value / "key": "value", and OpenWrt's "option key 'value'".
        key = rb"(?P<key>(?:[A-Za-z0-9]+[_.-])*(?:" + keys.encode() + rb"))"
        self._assignment = re.compile(
            rb"(?im)^[ \t]*(?:export[ \t]+)?[\"']?" + key + rb"[\"']?[ \t]*[:=][ \t]*"
            rb"[\"']?(?P<value>[^\"'\s#;,<>]{1,200})"
            rb"|^[ \t]*option[ \t]+" + key.replace(b"?P<key>", b"?P<ukey>") + rb"[ \t]+"
            rb"[\"']?(?P<uvalue>[^\"'\s#;,<>]{1,200})"
        )
        self._xml_assignment = re.compile(
            rb"(?i)<(?P<key>" + keys.encode() + rb")>(?P<value>[^<\s]{1,200})</(?P=key)>"
        )
        self._defaults = {p.lower() for p in self.rules.default_passwords}
        self._ignore = {v.lower() for v in self.rules.ignore_values}
        self._benign_hosts = {h.lower() for h in self.rules.benign_url_hosts}
        self._docs = [re.compile(p) for p in self.rules.documentation_paths]
        self._well_known_ips = set(self.rules.well_known_ips)
        self._data: Buffer = b""
        self._newlines: list[int] | None = None

    def scan(self, data: Buffer, location: str, text: bool) -> list[SecretFinding]:
        """Findings in one file. ``data`` may be an mmap; ``text`` selects the text rules."""
        self._data = data
        self._newlines = None
        findings = self._leftover_file(location)
        findings += self._pem_blocks(data, location, text)
        findings += self._tokens_in(data, location, text)
        documentation = self.is_documentation(location)
        if not documentation:
            findings += self._urls(data, location, text)
        if not text and len(data) <= _MAX_DER_BYTES:
            findings += self._binary_keys(bytes(data), location)
        if text and len(data) <= _MAX_TEXT_BYTES:
            content = bytes(data)
            findings += self._account_lines(content, location)
            if not documentation:
                findings += self._assignments(content, location)
                findings += self._ip_addresses(content, location)
                findings += self._leftover_text(content, location)
        return findings

    def is_documentation(self, location: str) -> bool:
        """Documentation and package metadata (see ``documentation_paths``)."""
        return any(regex.search(location) for regex in self._docs)

    def _line(self, offset: int) -> int:
        """1-based line number of ``offset`` in the current file (index built on first use)."""
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer(b"\n", self._data)]
        return bisect.bisect_left(self._newlines, offset) + 1

    # -- file names --------------------------------------------------------------------

    def _leftover_file(self, location: str) -> list[SecretFinding]:
        inner = location.rsplit("!", 1)[-1]
        return [
            SecretFinding("debug-leftover", "leftover", rule.severity, rule.title, location, inner)
            for rule, regex in self._leftover_files
            if regex.search(inner)
        ]

    # -- keys and certificates ---------------------------------------------------------

    def _pem_blocks(self, data: Buffer, location: str, text: bool) -> list[SecretFinding]:
        findings: list[SecretFinding] = []
        certs: list[tuple[x509.Certificate, int]] = []
        for match in _PEM.finditer(data):
            label = match["label"].decode()
            block = match.group(0)
            line = self._line(match.start()) if text else None
            if label == "CERTIFICATE":
                try:
                    certs.append((x509.load_pem_x509_certificate(block), match.start()))
                except ValueError:
                    continue
            elif "PRIVATE KEY" in label:
                body = re.sub(rb"\s+", b"", match["body"]).decode("ascii", "replace")
                preview = f"-----BEGIN {label}----- {mask(body)}"
                detail, severity = _describe_private_key(label, block)
                findings.append(
                    SecretFinding(
                        "private-key",
                        "secret",
                        severity,
                        f"{label.title()} embedded in the image",
                        location,
                        preview,
                        detail,
                        line,
                        match.start(),
                    )
                )
        findings += self._certificates(certs, location, data if text else None)
        return findings

    def _binary_keys(self, data: bytes, location: str) -> list[SecretFinding]:
        """DER keys and certificates, and SSH host key blobs (Dropbear's format)."""
        if data[:1] == b"\x30":
            try:
                key = serialization.load_der_private_key(data, password=None)
            except TypeError:
                return [_key_finding(location, "encrypted DER private key", "medium", data)]
            except (ValueError, UnsupportedAlgorithm):
                pass
            else:
                return [_key_finding(location, _key_text(key), "critical", data)]
            try:
                cert = x509.load_der_x509_certificate(data)
            except ValueError:
                return []
            return self._certificates([(cert, 0)], location, None)
        if _HOST_KEY_BLOB.match(data) and "host_key" in location.rsplit("/", 1)[-1]:
            kind = data[4 : 4 + data[3]].decode("ascii", "replace")
            return [
                SecretFinding(
                    "private-key",
                    "secret",
                    "critical",
                    "SSH host private key (every device shares it)",
                    location,
                    f"{kind} key blob…[{len(data)} bytes]",
                    kind,
                )
            ]
        return []

    def _certificates(
        self, certs: list[tuple[x509.Certificate, int]], location: str, text: Buffer | None
    ) -> list[SecretFinding]:
        if not certs:
            return []
        if len(certs) >= _CA_BUNDLE_MIN:
            expired = sum(1 for cert, _ in certs if cert.not_valid_after_utc < self.now)
            return [
                SecretFinding(
                    "certificate-bundle",
                    "certificate",
                    "info",
                    "CA certificate bundle",
                    location,
                    f"{len(certs)} certificates",
                    f"{expired} expired",
                )
            ]
        findings = []
        for cert, offset in certs:
            line = self._line(offset) if text is not None else None
            subject = cert.subject.rfc4514_string()[:120] or "(empty subject)"
            for rule, severity, title, detail in self._certificate_issues(cert):
                findings.append(
                    SecretFinding(
                        rule,
                        "certificate",
                        severity,
                        title,
                        location,
                        subject,
                        detail,
                        line,
                        offset,
                    )
                )
        return findings

    def _certificate_issues(self, cert: x509.Certificate) -> list[tuple[str, Severity, str, str]]:
        issues: list[tuple[str, Severity, str, str]] = []
        not_after = cert.not_valid_after_utc
        if not_after < self.now:
            issues.append(
                (
                    "certificate-expired",
                    "medium",
                    "Expired certificate",
                    f"expired {not_after:%Y-%m-%d}",
                )
            )
        if cert.not_valid_before_utc > self.now:
            issues.append(
                (
                    "certificate-not-yet-valid",
                    "low",
                    "Certificate not valid yet",
                    f"valid from {cert.not_valid_before_utc:%Y-%m-%d}",
                )
            )
        if cert.issuer == cert.subject and _signed_by_itself(cert):
            issues.append(
                (
                    "certificate-self-signed",
                    "medium",
                    "Self-signed certificate (peers cannot verify it)",
                    "issuer equals subject and the signature verifies with its own key",
                )
            )
        weak = _weak_key(cert)
        if weak:
            issues.append(("certificate-weak-key", "high", "Certificate with a weak key", weak))
        algorithm = cert.signature_hash_algorithm
        if isinstance(algorithm, hashes.MD5 | hashes.SHA1):
            issues.append(
                (
                    "certificate-weak-signature",
                    "medium",
                    "Certificate signed with a broken hash",
                    algorithm.name,
                )
            )
        if not issues:
            issues.append(("certificate", "info", "Certificate", f"valid to {not_after:%Y-%m-%d}"))
        return issues

    # -- tokens and URLs ---------------------------------------------------------------

    def _tokens_in(self, data: Buffer, location: str, text: bool) -> list[SecretFinding]:
        findings = []
        for rule, regex in self._tokens:
            seen: set[bytes] = set()
            for match in regex.finditer(data):
                value = match.group(0)
                if value in seen:
                    continue
                seen.add(value)
                findings.append(
                    SecretFinding(
                        rule.id,
                        "secret",
                        rule.severity,
                        rule.title,
                        location,
                        mask(value.decode("ascii", "replace")),
                        line=self._line(match.start()) if text else None,
                        offset=match.start(),
                    )
                )
        return findings

    def _urls(self, data: Buffer, location: str, text: bool) -> list[SecretFinding]:
        findings: list[SecretFinding] = []
        endpoints: set[str] = set()
        for match in _URL.finditer(data):
            start = match.start()
            scheme_start = start
            while scheme_start > 0 and start - scheme_start < 10:
                if not _SCHEME_CHAR.match(data[scheme_start - 1 : scheme_start]):
                    break
                scheme_start -= 1
            scheme = data[scheme_start:start].decode("ascii").lower()
            if not scheme or not scheme[0].isalpha():
                continue
            if text and _in_comment(data, scheme_start):
                continue
            rest = match["rest"].decode("ascii", "replace").rstrip(".,;)]")
            authority = rest.split("/", 1)[0]
            line = self._line(start) if text else None
            if "@" in authority and ":" in authority.split("@", 1)[0]:
                user, _, secret = authority.split("@", 1)[0].partition(":")
                if secret and not secret.startswith(("%", "$", "{")):
                    host = authority.rsplit("@", 1)[1]
                    findings.append(
                        SecretFinding(
                            "url-credentials",
                            "credential",
                            "high",
                            "Credentials embedded in a URL",
                            location,
                            f"{scheme}://{user}:{mask(secret)}@{host}",
                            line=line,
                            offset=scheme_start,
                        )
                    )
                continue
            host = authority.rsplit(":", 1)[0].lower() if authority.count(":") == 1 else authority
            if not host or host in self._benign_hosts or "%" in host or "." not in host:
                continue
            url = f"{scheme}://{_mask_query(rest)}"
            if url in endpoints or len(endpoints) >= _MAX_ENDPOINTS_PER_FILE:
                continue
            endpoints.add(url)
            findings.append(
                SecretFinding(
                    "hard-coded-url",
                    "endpoint",
                    "low" if scheme in ("http", "ftp", "telnet", "mqtt", "tftp") else "info",
                    "Hard-coded URL" + (" (cleartext protocol)" if scheme == "http" else ""),
                    location,
                    url[:200],
                    line=line,
                    offset=scheme_start,
                )
            )
        return findings

    def _ip_addresses(self, data: bytes, location: str) -> list[SecretFinding]:
        findings: list[SecretFinding] = []
        seen: set[str] = set()
        for match in _IPV4.finditer(data):
            text = match.group(0).decode()
            if _in_comment(data, match.start()):
                continue
            try:
                address = ipaddress.IPv4Address(text)
            except ValueError:
                continue
            if (
                text in seen
                or address.is_loopback
                or address.is_unspecified
                or address.is_multicast
                or address.is_reserved
                or address.is_link_local
                or text.startswith("255.")
                or text.endswith(".0")
                # 1.2.3.4-like strings are versions and section numbers far more often.
                or (max(address.packed) < 10 and text not in self._well_known_ips)
            ):
                continue
            seen.add(text)
            if len(seen) > _MAX_ENDPOINTS_PER_FILE:
                break
            findings.append(
                SecretFinding(
                    "hard-coded-ip",
                    "endpoint",
                    "info" if address.is_private else "low",
                    "Hard-coded IP address" + ("" if address.is_private else " (public)"),
                    location,
                    text,
                    line=self._line(match.start()),
                    offset=match.start(),
                )
            )
        return findings

    # -- text files: accounts, assignments, leftovers ----------------------------------

    def _account_lines(self, data: bytes, location: str) -> list[SecretFinding]:
        account_file = bool(_ACCOUNT_FILES.search(location.rsplit("!", 1)[-1]))
        if not account_file and b":$" not in data and b":{SHA" not in data:
            return []
        findings = []
        is_passwd = location.endswith("passwd") and "htpasswd" not in location
        for number, raw in enumerate(bytes(data).decode("utf-8", "replace").splitlines(), 1):
            fields = raw.split(":")
            if len(fields) < 2 or not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", fields[0]):
                continue
            user, secret = fields[0], fields[1]
            if account_file and secret == "" and (is_passwd or len(fields) >= 8):
                findings.append(
                    SecretFinding(
                        "empty-password",
                        "credential",
                        "critical",
                        "Account without a password",
                        location,
                        f"{user}:(empty)",
                        line=number,
                    )
                )
                continue
            if not _HASH_FIELD.match(secret) or (len(secret) == 13 and not account_file):
                continue
            kind, weak = _hash_kind(secret)
            findings.append(
                SecretFinding(
                    "password-hash",
                    "credential",
                    "high" if weak else "medium",
                    f"Password hash shipped in the image ({kind})",
                    location,
                    f"{user}:{mask(secret)}",
                    "weak hash scheme, crackable offline" if weak else "crackable offline",
                    line=number,
                )
            )
        return findings

    def _assignments(self, data: bytes, location: str) -> list[SecretFinding]:
        findings = []
        for regex in (self._assignment, self._xml_assignment):
            for match in regex.finditer(data):
                uci = "ukey" in regex.groupindex and match["ukey"] is not None
                key = match["ukey" if uci else "key"].decode("ascii", "replace")
                value = match["uvalue" if uci else "value"].decode("utf-8", "replace")
                lowered = value.lower()
                if (
                    lowered in self._ignore
                    or lowered.startswith(("$", "%", "{{", "<", "@", "/", "*"))
                    or (len(value) < 4 and lowered not in self._defaults)
                ):
                    continue
                default = lowered in self._defaults
                findings.append(
                    SecretFinding(
                        "default-credential" if default else "hard-coded-credential",
                        "credential",
                        "high" if default else "medium",
                        "Default password in configuration"
                        if default
                        else "Hard-coded credential in configuration",
                        location,
                        f"{key}={mask(value)}",
                        line=self._line(match.start()),
                        offset=match.start(),
                    )
                )
        return findings

    def _leftover_text(self, data: bytes, location: str) -> list[SecretFinding]:
        findings = []
        for rule, regex, path in self._leftover_lines:
            if path is not None and not path.search(location):
                continue
            match = regex.search(data)
            if match:
                snippet = match.group(0).decode("utf-8", "replace").strip()[:80]
                findings.append(
                    SecretFinding(
                        "debug-leftover",
                        "leftover",
                        rule.severity,
                        rule.title,
                        location,
                        snippet,
                        line=self._line(match.start()),
                    )
                )
        return findings


def _in_comment(data: Buffer, offset: int) -> bool:
    """True when ``offset`` sits on a comment line of a text file."""
    start = data.rfind(b"\n", 0, offset) + 1
    return bytes(data[start:offset]).lstrip().startswith((b"#", b"//", b";", b"<!--", b"*"))


def _mask_query(rest: str) -> str:
    """Keep URLs readable but hide query values, which often carry tokens."""
    base, sep, query = rest.partition("?")
    if not sep:
        return rest
    parts = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        parts.append(f"{name}={mask(value)}" if eq and value else pair)
    return f"{base}?{'&'.join(parts)}"


def _hash_kind(secret: str) -> tuple[str, bool]:
    """(name of the hash scheme, weak?)"""
    schemes = {
        "$1$": ("MD5-crypt", True),
        "$apr1$": ("Apache MD5", True),
        "$md5": ("MD5", True),
        "$sha1$": ("SHA1-crypt", True),
        "{SHA}": ("unsalted SHA-1", True),
        "{SSHA}": ("salted SHA-1", True),
        "$5$": ("SHA-256-crypt", False),
        "$6$": ("SHA-512-crypt", False),
        "$2": ("bcrypt", False),
        "$y$": ("yescrypt", False),
        "$gy$": ("gost-yescrypt", False),
        "$7$": ("scrypt", False),
        "$pbkdf2": ("PBKDF2", False),
    }
    for prefix, result in schemes.items():
        if secret.startswith(prefix):
            return result
    return ("DES-crypt", True)


def _describe_private_key(label: str, block: bytes) -> tuple[str, Severity]:
    key: object
    try:
        if label == "OPENSSH PRIVATE KEY":
            key = serialization.load_ssh_private_key(block, password=None)
        else:
            key = serialization.load_pem_private_key(block, password=None)
    except TypeError:
        return "encrypted with a passphrase", "medium"
    except (ValueError, UnsupportedAlgorithm):
        return "could not be parsed", "high"
    return _key_text(key), "critical"


def _key_text(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}-bit, unencrypted"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}, unencrypted"
    if isinstance(key, dsa.DSAPrivateKey):
        return f"DSA {key.key_size}-bit, unencrypted"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return f"{type(key).__name__.removesuffix('PrivateKey')}, unencrypted"
    return "unencrypted"


def _key_finding(location: str, detail: str, severity: Severity, data: bytes) -> SecretFinding:
    return SecretFinding(
        "private-key",
        "secret",
        severity,
        "DER private key embedded in the image",
        location,
        f"DER key…[{len(data)} bytes]",
        detail,
    )


def _signed_by_itself(cert: x509.Certificate) -> bool:
    """True unless the certificate's own key demonstrably did not sign it."""
    try:
        cert.verify_directly_issued_by(cert)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Legacy algorithms (e.g. SHA-1) cannot be checked; issuer == subject decides.
        return True
    return True


def _weak_key(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return ""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return f"RSA {key.key_size}-bit"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}-bit"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 224:
        return f"EC {key.curve.name}"
    return ""
