"""Secrets planted in an image built here are all found, and never shown in full."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from medsentry.protect.scan import scan_path
from medsentry.protect.secrets import SecretScanner, mask
from tests.protect.conftest import run_cli


@dataclass
class PlantedImage:
    path: Path
    secrets: list[str]  # strings that must never appear in any output


def _expired_weak_certificate() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "infusion-pump.local")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2015, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2016, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _sha1_certificate(folder: Path) -> bytes:
    """The cryptography library no longer signs with SHA-1; the openssl tool still does."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-sha1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=legacy-monitor",
            "-keyout",
            str(folder / "k.pem"),
            "-out",
            str(folder / "c.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return (folder / "c.pem").read_bytes()


def _pem_body(pem: bytes) -> str:
    lines = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
    return "".join(lines)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedImage:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    ssh_key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    encrypted = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"vendor-passphrase"),
    )
    der_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    md5_hash = "$1$Xq9zK2pL$u7Yc1n3Qe8Rb5Tw2Hs4Jm."
    sha512_hash = "$6$Pq8sLm2Z$" + "Ab1" * 28 + "x"
    htpasswd_hash = "{SHA}" + base64.b64encode(os.urandom(20)).decode()
    aws_key = "AKIA" + "QWERTYUIOPASDFGH"
    github_token = "ghp_" + "Zx9Kd83LmQ02pQvB7nT4rW1yU6iO5pA3sD8f"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwdW1wLTQyIiwicm9sZSI6ImFkbWluIn0.K7s9Q2xY1bVn0pLq3Rt8"
    url_password = "Upd4teS3cret"
    config_password = "Medical!Pump#2024"
    wifi_passphrase = "HospitalWifi-77x"
    files: dict[str, tuple[bytes, int]] = {
        "etc/shadow": (
            f"root:{md5_hash}:19000:0:99999:7:::\n"
            f"admin:{sha512_hash}:19000:0:99999:7:::\n"
            "service::19000:0:99999:7:::\n".encode(),
            0o600,
        ),
        "etc/passwd": (
            b"root:x:0:0:root:/root:/bin/sh\nguest::1000:1000::/home/guest:/bin/sh\n",
            0o644,
        ),
        "www/.htpasswd": (f"webadmin:{htpasswd_hash}\n".encode(), 0o644),
        "etc/app.conf": (
            f"[mqtt]\nmqtt_password = {config_password}\nadmin_password=changeme\n".encode(),
            0o644,
        ),
        "etc/hostapd.conf": (f"ssid=ward-7\nwpa_passphrase={wifi_passphrase}\n".encode(), 0o644),
        "etc/cloud.json": (json.dumps({"aws_access_key_id": aws_key}).encode(), 0o644),
        "opt/app/deploy.sh": (
            f"#!/bin/sh\nexport TOKEN={github_token}\n"
            f"curl -o /tmp/fw https://fwuser:{url_password}@updates.pump-vendor.com/fw.bin\n"
            "ping -c1 52.14.77.200\n".encode(),
            0o755,
        ),
        "opt/app/session.cache": (jwt.encode(), 0o644),
        "etc/inittab": (
            b"::sysinit:/etc/init.d/rcS\n::respawn:/usr/sbin/telnetd -l /bin/sh\n",
            0o644,
        ),
        "etc/ssl/private/device.key": (rsa_key, 0o600),
        "root/.ssh/id_ed25519": (ssh_key, 0o600),
        "etc/ssl/private/backup.key": (encrypted, 0o600),
        "etc/ssl/private/device.der": (der_key, 0o600),
        "etc/ssl/device.crt": (_expired_weak_certificate(), 0o644),
        "etc/dropbear/dropbear_rsa_host_key": (b"\x00\x00\x00\x07ssh-rsa" + os.urandom(400), 0o600),
        "src/.git/config": (b"[core]\n\trepositoryformatversion = 0\n", 0o644),
        "root/.ash_history": (b"ls\ncat /etc/shadow\n", 0o600),
        "usr/bin/maintenance": (b"\x7fELF-not-really", 0o4755),
    }
    work = tmp_path_factory.mktemp("planted")
    files["etc/ssl/legacy.crt"] = (_sha1_certificate(work), 0o644)
    image = work / "pump-firmware.tar.gz"
    with tarfile.open(image, "w:gz") as archive:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            archive.addfile(info, io.BytesIO(data))
    secrets = [
        md5_hash,
        sha512_hash,
        htpasswd_hash,
        aws_key,
        github_token,
        jwt,
        url_password,
        config_password,
        "changeme",
        wifi_passphrase,
        _pem_body(rsa_key)[40:120],
        _pem_body(ssh_key)[40:120],
        _pem_body(encrypted)[40:120],
        "vendor-passphrase",
    ]
    return PlantedImage(image, secrets)


EXPECTED = {
    ("password-hash", "etc/shadow"): 2,
    ("empty-password", "etc/shadow"): 1,
    ("empty-password", "etc/passwd"): 1,
    ("password-hash", "www/.htpasswd"): 1,
    ("hard-coded-credential", "etc/app.conf"): 1,
    ("default-credential", "etc/app.conf"): 1,
    ("hard-coded-credential", "etc/hostapd.conf"): 1,
    ("aws-access-key-id", "etc/cloud.json"): 1,
    ("github-token", "opt/app/deploy.sh"): 1,
    ("url-credentials", "opt/app/deploy.sh"): 1,
    ("hard-coded-ip", "opt/app/deploy.sh"): 1,
    ("jwt", "opt/app/session.cache"): 1,
    ("debug-leftover", "etc/inittab"): 1,
    ("private-key", "etc/ssl/private/device.key"): 1,
    ("private-key", "root/.ssh/id_ed25519"): 1,
    ("private-key", "etc/ssl/private/backup.key"): 1,
    ("private-key", "etc/ssl/private/device.der"): 1,
    ("private-key", "etc/dropbear/dropbear_rsa_host_key"): 1,
    ("certificate-expired", "etc/ssl/device.crt"): 1,
    ("certificate-self-signed", "etc/ssl/device.crt"): 1,
    ("certificate-weak-key", "etc/ssl/device.crt"): 1,
    ("certificate-weak-signature", "etc/ssl/legacy.crt"): 1,
    ("certificate-self-signed", "etc/ssl/legacy.crt"): 1,
    ("debug-leftover", "src/.git/config"): 1,
    ("debug-leftover", "root/.ash_history"): 1,
    ("setuid-file", "usr/bin/maintenance"): 1,
}


def test_every_planted_secret_is_found(planted: PlantedImage) -> None:
    report = scan_path(planted.path)
    prefix = "pump-firmware.tar.gz!/"
    counts: dict[tuple[str, str], int] = {}
    for finding in report.findings:
        key = (finding.rule, finding.location.removeprefix(prefix))
        counts[key] = counts.get(key, 0) + 1
    for key, expected in EXPECTED.items():
        assert counts.get(key, 0) == expected, key
    details = {(f.rule, f.location.removeprefix(prefix)): f for f in report.findings}
    assert "RSA 2048-bit" in details[("private-key", "etc/ssl/private/device.key")].detail
    assert "Ed25519" in details[("private-key", "root/.ssh/id_ed25519")].detail
    assert "passphrase" in details[("private-key", "etc/ssl/private/backup.key")].detail
    assert "secp256r1" in details[("private-key", "etc/ssl/private/device.der")].detail
    assert details[("hard-coded-credential", "etc/app.conf")].line == 2
    assert details[("certificate-weak-key", "etc/ssl/device.crt")].detail == "RSA 1024-bit"


def test_no_secret_appears_in_the_report(planted: PlantedImage) -> None:
    report = scan_path(planted.path)
    text = json.dumps([f.__dict__ for f in report.findings])
    for secret in planted.secrets:
        assert secret not in text


def test_no_secret_is_printed_by_the_cli(planted: PlantedImage, tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    outputs = []
    for extra in ([], ["--json"], ["--sbom", str(sbom)]):
        result = run_cli("firmware", "scan", str(planted.path), *extra)
        assert result.exit_code == 0, result.output
        outputs += [result.stdout, result.stderr]
    outputs.append(sbom.read_text())
    joined = "\n".join(outputs)
    assert "Password hash shipped in the image" in joined  # the findings were printed
    assert "private-key" in joined
    for secret in planted.secrets:
        assert secret not in joined, secret[:6]


def test_fail_on_sets_the_exit_code(planted: PlantedImage) -> None:
    assert run_cli("firmware", "scan", str(planted.path), "--fail-on", "critical").exit_code == 1
    assert run_cli("firmware", "scan", str(planted.path)).exit_code == 0


def test_mask_never_reveals_more_than_a_quarter() -> None:
    for secret in ("a", "admin", "changeme", "x" * 40):
        preview = mask(secret)
        shown = preview.split("…", 1)[0]
        assert len(shown) <= len(secret) // 4
        assert f"[{len(secret)} chars]" in preview


def test_documentation_examples_are_not_credentials() -> None:
    scanner = SecretScanner()
    text = b"password = hunter2hunter2\nsee http://198.51.100.7/\n"
    assert scanner.scan(text, "fw!/usr/share/doc/tool/README", text=True) == []
    found = scanner.scan(text, "fw!/etc/tool.conf", text=True)
    assert {f.rule for f in found} == {"hard-coded-credential", "hard-coded-ip", "hard-coded-url"}
    versions = scanner.scan(b"version 1.2.3.4 and section 5.5.1.1\n", "fw!/etc/x", text=True)
    assert versions == []
