"""Signed integrity manifest of an installed software tree, and its verification.

The manifest lists every entry of the tree (sha256 and size of files, modes, link targets)
and is signed with Ed25519 over its canonical JSON form, so any change to the tree or to
the manifest itself is detected.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Signature

from medsentry.protect.errors import IntegrityError
from medsentry.protect.safe_fs import sha256_file
from medsentry.protect.updates.keys import load_public_key, load_signer

FORMAT = "medsentry-integrity/1"


@dataclass
class IntegrityResult:
    """Differences between a tree and its signed manifest."""

    modified: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    mode_changed: list[str] = field(default_factory=list)
    type_changed: list[str] = field(default_factory=list)
    link_changed: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def clean(self) -> bool:
        return not any(
            (
                self.modified,
                self.added,
                self.removed,
                self.mode_changed,
                self.type_changed,
                self.link_changed,
            )
        )


def _excluded(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, pattern) for pattern in patterns)


def tree_entries(tree: Path, exclude: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every entry under ``tree`` by relative path, without following links."""
    if not tree.is_dir():
        raise IntegrityError(f"{tree}: not a folder")
    patterns = exclude or []
    entries: dict[str, dict[str, Any]] = {}
    for dirpath, dirnames, filenames in os.walk(tree, followlinks=False):
        base = Path(dirpath)
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = base / name
            rel = full.relative_to(tree).as_posix()
            if _excluded(rel, patterns):
                if name in dirnames:
                    dirnames.remove(name)
                continue
            st = os.lstat(full)
            mode = f"{stat.S_IMODE(st.st_mode):04o}"
            if stat.S_ISLNK(st.st_mode):
                entries[rel] = {"type": "symlink", "target": os.readlink(full)}
            elif stat.S_ISDIR(st.st_mode):
                entries[rel] = {"type": "dir", "mode": mode}
            elif stat.S_ISREG(st.st_mode):
                entries[rel] = {
                    "type": "file",
                    "mode": mode,
                    "size": st.st_size,
                    "sha256": sha256_file(full),
                }
            else:
                entries[rel] = {"type": "special", "mode": mode}
    return entries


def _canonical(data: dict[str, Any]) -> bytes:
    text = encode_canonical(data)
    if text is None:  # pragma: no cover - only when writing to a caller-supplied list
        raise IntegrityError("manifest could not be encoded")
    return text.encode()


def create_manifest(
    tree: Path, key_path: Path, out: Path, exclude: list[str] | None = None
) -> dict[str, Any]:
    """Write a signed manifest of ``tree`` to ``out`` and return it."""
    signer = load_signer(key_path)
    signed = {
        "format": FORMAT,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tree": tree.resolve().name,
        "exclude": exclude or [],
        "entries": tree_entries(tree, exclude),
    }
    signature = signer.sign(_canonical(signed))
    document = {"signed": signed, "signatures": [signature.to_dict()]}
    out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return document


def load_verified_manifest(manifest: Path, public_key_path: Path) -> dict[str, Any]:
    """The manifest's signed part, after its signature verified with the given key."""
    key = load_public_key(public_key_path)
    try:
        document = json.loads(manifest.read_text())
        signed = document["signed"]
        signatures = [Signature.from_dict(dict(s)) for s in document["signatures"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{manifest}: not a readable integrity manifest ({exc})") from exc
    if signed.get("format") != FORMAT:
        raise IntegrityError(f"{manifest}: unknown manifest format {signed.get('format')!r}")
    payload = _canonical(signed)
    for signature in signatures:
        if signature.keyid != key.keyid:
            continue
        try:
            key.verify_signature(signature, payload)
        except UnverifiedSignatureError as exc:
            raise IntegrityError(
                f"{manifest}: signature does not verify; the manifest was altered or signed "
                "by another key"
            ) from exc
        return dict(signed)
    raise IntegrityError(f"{manifest}: not signed by the given key ({key.keyid[:12]}…)")


def verify_tree(tree: Path, manifest: Path, public_key_path: Path) -> IntegrityResult:
    """Compare ``tree`` with its signed manifest (the signature is checked first)."""
    signed = load_verified_manifest(manifest, public_key_path)
    expected: dict[str, dict[str, Any]] = signed["entries"]
    actual = tree_entries(tree, list(signed.get("exclude", [])))
    result = IntegrityResult(checked=len(expected))
    for rel, want in expected.items():
        have = actual.get(rel)
        if have is None:
            result.removed.append(rel)
        elif have["type"] != want["type"]:
            result.type_changed.append(rel)
        elif want["type"] == "symlink":
            if have["target"] != want["target"]:
                result.link_changed.append(rel)
        else:
            if want["type"] == "file" and (
                have["sha256"] != want["sha256"] or have["size"] != want["size"]
            ):
                result.modified.append(rel)
            if have.get("mode") != want.get("mode"):
                result.mode_changed.append(rel)
    result.added = sorted(set(actual) - set(expected))
    return result
