"""Signed integrity manifests detect modified, added and removed files and forged manifests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from medsentry.protect.errors import IntegrityError, KeyFileError
from medsentry.protect.integrity import create_manifest, verify_tree
from medsentry.protect.updates.keys import PASSPHRASE_ENV, generate_key, public_path
from tests.protect.conftest import run_cli


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, Path, Path]:
    tree = tmp_path / "opt" / "pump"
    (tree / "bin").mkdir(parents=True)
    (tree / "etc").mkdir()
    (tree / "bin" / "pumpd").write_bytes(b"\x7fELF pump daemon")
    (tree / "bin" / "pumpd").chmod(0o755)
    (tree / "etc" / "pump.conf").write_text("rate_limit=10\n")
    (tree / "log").mkdir()
    (tree / "log" / "today.log").write_text("started\n")
    os.symlink("bin/pumpd", tree / "current")
    key = tmp_path / "keys" / "integrity.pem"
    generate_key(key)
    manifest = tmp_path / "pump.manifest.json"
    create_manifest(tree, key, manifest, exclude=["log", "log/*"])
    return tree, manifest, public_path(key)


def test_untouched_tree_verifies(installed: tuple[Path, Path, Path]) -> None:
    tree, manifest, public = installed
    result = verify_tree(tree, manifest, public)
    assert result.clean
    assert result.checked == 5  # bin, bin/pumpd, current, etc, etc/pump.conf


def test_modification_addition_removal_and_mode_are_detected(
    installed: tuple[Path, Path, Path],
) -> None:
    tree, manifest, public = installed
    (tree / "etc" / "pump.conf").write_text("rate_limit=99\n")
    (tree / "bin" / "backdoor").write_bytes(b"#!/bin/sh\n")
    (tree / "bin" / "pumpd").chmod(0o4755)
    os.remove(tree / "current")
    os.symlink("/tmp/evil", tree / "current")
    (tree / "log" / "today.log").write_text("excluded paths may change\n")
    result = verify_tree(tree, manifest, public)
    assert result.modified == ["etc/pump.conf"]
    assert result.added == ["bin/backdoor"]
    assert result.mode_changed == ["bin/pumpd"]
    assert result.link_changed == ["current"]
    os.remove(tree / "etc" / "pump.conf")
    assert verify_tree(tree, manifest, public).removed == ["etc/pump.conf"]
    assert not result.clean


def test_forged_manifest_is_rejected(installed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    tree, manifest, public = installed
    document = json.loads(manifest.read_text())
    document["signed"]["entries"]["etc/pump.conf"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(document))
    with pytest.raises(IntegrityError, match="signature does not verify"):
        verify_tree(tree, manifest, public)
    other = tmp_path / "other.pem"
    generate_key(other)
    with pytest.raises(IntegrityError, match="not signed by the given key"):
        verify_tree(tree, manifest, public_path(other))


def test_encrypted_key_needs_its_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    key = tmp_path / "enc.pem"
    generate_key(key)
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").write_text("a")
    create_manifest(tree, key, tmp_path / "m.json")
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(KeyFileError, match=PASSPHRASE_ENV):
        create_manifest(tree, key, tmp_path / "m2.json")


def test_integrity_commands(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "app").write_text("v1")
    key = tmp_path / "k.pem"
    manifest = tmp_path / "m.json"
    assert run_cli("integrity", "keygen", str(key)).exit_code == 0
    created = run_cli("integrity", "create", str(tree), "--key", str(key), "--out", str(manifest))
    assert created.exit_code == 0, created.output
    verify = ["integrity", "verify", str(tree), "--manifest", str(manifest)]
    ok = run_cli(*verify, "--pubkey", str(public_path(key)))
    assert ok.exit_code == 0 and "intact" in ok.output
    (tree / "app").write_text("v2")
    (tree / "extra").write_text("x")
    bad = run_cli(*verify, "--pubkey", str(public_path(key)))
    assert bad.exit_code == 1
    assert "modified: app" in bad.output and "added: extra" in bad.output
