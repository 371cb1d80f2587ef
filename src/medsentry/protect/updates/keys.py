"""Ed25519 signing keys on disk: PKCS#8 PEM private keys, optionally passphrase-protected.

The passphrase comes from ``MEDSENTRY_KEY_PASSPHRASE`` when set, so keys can be kept
encrypted at rest without putting the secret on the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from securesystemslib.signer import CryptoSigner, SSlibKey

from medsentry.protect.errors import KeyFileError

PASSPHRASE_ENV = "MEDSENTRY_KEY_PASSPHRASE"


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def generate_key(path: Path) -> CryptoSigner:
    """Create a new Ed25519 key at ``path`` (mode 0600) and its public half at ``path.pub``."""
    if path.exists():
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key")
    private = ed25519.Ed25519PrivateKey.generate()
    secret = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path(path).write_bytes(public_pem)
    return CryptoSigner(private)


def public_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + ".pub")


def load_signer(path: Path) -> CryptoSigner:
    """A signer for the private key file at ``path``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key: {exc.strerror}") from exc
    try:
        private = serialization.load_pem_private_key(data, password=_passphrase())
    except TypeError as exc:
        raise KeyFileError(
            f"{path}: the key is encrypted; set {PASSPHRASE_ENV} to its passphrase"
        ) from exc
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM private key or wrong passphrase") from exc
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path}: only Ed25519 keys are used for signing")
    return CryptoSigner(private)


def load_public_key(path: Path) -> SSlibKey:
    """A public key from a ``.pub`` PEM file (or the public half of a private key file)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key: {exc.strerror}") from exc
    if b"PRIVATE KEY" in data:
        return load_signer(path).public_key
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM public key") from exc
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise KeyFileError(f"{path}: only Ed25519 keys are used for signing")
    return SSlibKey.from_crypto(public)


def load_keystore(folder: Path) -> dict[str, CryptoSigner]:
    """Every private key in ``folder`` by key id (file names do not matter)."""
    if not folder.is_dir():
        raise KeyFileError(f"{folder}: key folder not found (pass --keys)")
    signers: dict[str, CryptoSigner] = {}
    for path in sorted(folder.glob("*.pem")):
        signer = load_signer(path)
        signers[signer.public_key.keyid] = signer
    return signers
