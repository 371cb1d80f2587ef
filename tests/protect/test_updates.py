"""Signed updates: every attack TUF defends against is refused, key rotation is accepted."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, MetaFile, TargetFile
from tuf.api.serialization.json import JSONSerializer

from medsentry.protect.errors import UpdateRepoError
from medsentry.protect.updates.device_client import DeviceUpdater, UpdateRefused, verify_repository
from medsentry.protect.updates.keys import generate_key, load_keystore, load_signer
from medsentry.protect.updates.repository import RoleSetup, UpdateRepository
from tests.protect.conftest import run_cli


@dataclass
class Setup:
    repo: UpdateRepository
    device: DeviceUpdater
    tmp: Path

    def publish(self, content: bytes, version: str, **kwargs: object) -> None:
        source = self.tmp / "build" / "pump.bin"
        source.parent.mkdir(exist_ok=True)
        source.write_bytes(content)
        self.repo.add_target(source, "pump.bin", {"version": version}, **kwargs)  # type: ignore[arg-type]

    def install(self) -> bytes:
        destination = self.tmp / "device" / "firmware" / "pump.bin"
        self.device.install("pump.bin", destination)
        return destination.read_bytes()


def _setup(tmp_path: Path, roles: dict[str, RoleSetup] | None = None) -> Setup:
    repo = UpdateRepository.create(tmp_path / "repo", roles=roles)
    trusted_root = (tmp_path / "repo" / "metadata" / "1.root.json").read_bytes()
    device = DeviceUpdater(tmp_path / "device" / "state", str(tmp_path / "repo"), trusted_root)
    setup = Setup(repo, device, tmp_path)
    setup.publish(b"pump firmware 1.0", "1.0")
    return setup


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return _setup(tmp_path)


def _refused(setup: Setup, cause: type[Exception]) -> UpdateRefused:
    with pytest.raises(UpdateRefused) as info:
        setup.install()
    assert isinstance(info.value.cause, cause), info.value
    return info.value


def _write(md: Metadata, path: Path) -> None:  # type: ignore[type-arg]
    md.to_file(str(path), JSONSerializer(compact=False))


def _attacker_publish(setup: Setup, targets_signers: list[CryptoSigner], payload: bytes) -> None:
    """An attacker holding the online keys (snapshot, timestamp) and the given targets keys."""
    repo = setup.repo
    metadata = repo.metadata_dir
    online = load_keystore(repo.keys_dir)
    targets = repo.load("targets")
    evil = setup.tmp / "evil.bin"
    evil.write_bytes(payload)
    info = TargetFile.from_file("pump.bin", str(evil), ["sha256"])
    info.unrecognized_fields["custom"] = {"version": "9.9"}
    targets.signed.targets["pump.bin"] = info
    targets.signed.version += 1
    targets.signatures.clear()
    for signer in targets_signers:
        targets.sign(signer, append=True)
    _write(targets, metadata / f"{targets.signed.version}.targets.json")
    shutil.copyfile(evil, repo.targets_dir / f"{info.hashes['sha256']}.pump.bin")
    root = repo.root
    snapshot_version = 0
    for role in ("snapshot", "timestamp"):
        md = repo.load(role)
        md.signed.version += 1
        if role == "snapshot":
            md.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
            snapshot_version = md.signed.version
        else:
            md.signed.snapshot_meta = MetaFile(version=snapshot_version)
        md.signatures.clear()
        for keyid in root.roles[role].keyids:
            md.sign(online[keyid], append=True)
        name = "timestamp.json" if role == "timestamp" else f"{md.signed.version}.snapshot.json"
        _write(md, metadata / name)


def test_install_then_update(setup: Setup) -> None:
    assert setup.install() == b"pump firmware 1.0"
    setup.publish(b"pump firmware 1.1", "1.1")
    assert setup.install() == b"pump firmware 1.1"
    assert verify_repository(setup.repo.path).targets[0][0] == "pump.bin"


def test_expired_metadata_is_refused(setup: Setup) -> None:
    setup.repo.sign("timestamp", lifetime=timedelta(seconds=-60))
    refusal = _refused(setup, tuf_errors.ExpiredMetadataError)
    assert refusal.attack == "freeze or expired metadata"


def test_rollback_is_refused(setup: Setup) -> None:
    old_timestamp = (setup.repo.metadata_dir / "timestamp.json").read_bytes()
    setup.publish(b"pump firmware 1.1", "1.1")
    assert setup.install() == b"pump firmware 1.1"
    # The attacker serves the older, validly signed timestamp again.
    (setup.repo.metadata_dir / "timestamp.json").write_bytes(old_timestamp)
    refusal = _refused(setup, tuf_errors.BadVersionNumberError)
    assert "rollback" in refusal.attack


def test_freeze_is_refused_once_the_timestamp_expires(setup: Setup) -> None:
    setup.repo.sign("timestamp", lifetime=timedelta(seconds=3))
    expires = setup.repo.load("timestamp").signed.expires
    assert setup.install() == b"pump firmware 1.0"
    # The repository is frozen: no new timestamp. The device refuses as soon as it expires.
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    _refused(setup, tuf_errors.ExpiredMetadataError)


def test_mix_and_match_is_refused(setup: Setup) -> None:
    setup.publish(b"pump firmware 1.1", "1.1")
    metadata = setup.repo.metadata_dir
    newest = setup.repo.load("targets").signed.version
    # Serve the previous (validly signed) targets under the name the snapshot asks for.
    shutil.copyfile(metadata / f"{newest - 1}.targets.json", metadata / f"{newest}.targets.json")
    refusal = _refused(setup, tuf_errors.BadVersionNumberError)
    assert "mix-and-match" in refusal.attack


def test_tampered_target_is_refused(setup: Setup) -> None:
    stored = next(setup.repo.targets_dir.glob("*.pump.bin"))
    data = bytearray(stored.read_bytes())
    data[0] ^= 0xFF  # same length, one flipped byte
    stored.write_bytes(bytes(data))
    refusal = _refused(setup, tuf_errors.LengthOrHashMismatchError)
    assert refusal.attack == "tampered data"
    assert not (setup.tmp / "device" / "firmware" / "pump.bin").exists()


def test_signatures_below_the_threshold_are_refused(tmp_path: Path) -> None:
    setup = _setup(tmp_path, roles={"targets": RoleSetup(keys=2, threshold=2)})
    assert setup.install() == b"pump firmware 1.0"
    one_key = load_signer(next(setup.repo.keys_dir.glob("targets-1.pem")))
    _attacker_publish(setup, [one_key], b"malicious firmware")
    refusal = _refused(setup, tuf_errors.UnsignedMetadataError)
    assert refusal.attack == "insufficient signatures"


def test_a_key_outside_the_root_is_refused(setup: Setup, tmp_path: Path) -> None:
    stranger = generate_key(tmp_path / "attacker" / "targets.pem")
    _attacker_publish(setup, [stranger], b"malicious firmware")
    _refused(setup, tuf_errors.UnsignedMetadataError)


def test_threshold_publishing_needs_the_offline_key(tmp_path: Path) -> None:
    setup = _setup(tmp_path, roles={"targets": RoleSetup(keys=2, threshold=2)})
    offline = tmp_path / "offline"
    offline.mkdir()
    moved = setup.repo.keys_dir / "targets-2.pem"
    shutil.move(moved, offline / moved.name)
    with pytest.raises(UpdateRepoError, match="needs 2 signatures"):
        setup.publish(b"pump firmware 1.1", "1.1")
    setup.publish(b"pump firmware 1.1", "1.1", extra_keys=[offline / moved.name])
    assert setup.install() == b"pump firmware 1.1"


def test_targets_key_rotation_is_accepted_and_the_old_key_is_revoked(setup: Setup) -> None:
    assert setup.install() == b"pump firmware 1.0"
    old_key = load_signer(setup.repo.keys_dir / "targets-1.pem")
    root = setup.repo.rotate("targets")
    assert root.version == 2
    assert (setup.repo.keys_dir / "revoked" / "targets-1.pem").exists()
    setup.publish(b"pump firmware 2.0", "2.0")
    assert setup.install() == b"pump firmware 2.0"  # device followed 1.root -> 2.root
    _attacker_publish(setup, [old_key], b"signed with a revoked key")
    _refused(setup, tuf_errors.UnsignedMetadataError)


def test_root_key_rotation_is_accepted(tmp_path: Path) -> None:
    setup = _setup(tmp_path, roles={"root": RoleSetup(keys=2, threshold=2)})
    assert setup.install() == b"pump firmware 1.0"
    setup.repo.rotate("root", new_keys=3, threshold=2)
    status = {s.role: s for s in setup.repo.status()}
    assert (status["root"].version, status["root"].keys, status["root"].threshold) == (2, 3, 2)
    setup.publish(b"pump firmware 2.0", "2.0")
    assert setup.install() == b"pump firmware 2.0"
    # A third root signed only by the revoked root keys is not accepted.
    revoked = [load_signer(p) for p in sorted((setup.repo.keys_dir / "revoked").glob("root-*.pem"))]
    forged = setup.repo.load("root")
    forged.signed.version = 3
    forged.signatures.clear()
    for signer in revoked:
        forged.sign(signer, append=True)
    _write(forged, setup.repo.metadata_dir / "3.root.json")
    _refused(setup, tuf_errors.UnsignedMetadataError)


def test_software_downgrade_is_refused(setup: Setup) -> None:
    setup.publish(b"pump firmware 3.0", "3.0")
    assert setup.install() == b"pump firmware 3.0"
    setup.publish(b"pump firmware 2.5", "2.5")  # newer metadata, older software
    with pytest.raises(UpdateRefused, match="software downgrade"):
        setup.install()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "repo")
    )
    handler.log_message = lambda *args: None  # type: ignore[assignment]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_update_over_http(setup: Setup, http_server: str, tmp_path: Path) -> None:
    root = (tmp_path / "repo" / "metadata" / "1.root.json").read_bytes()
    device = DeviceUpdater(tmp_path / "net-device", http_server, root)
    installed = device.install("pump.bin", tmp_path / "net-device" / "pump.bin")
    assert installed.version == "1.0"
    assert (tmp_path / "net-device" / "pump.bin").read_bytes() == b"pump firmware 1.0"
    stored = next(setup.repo.targets_dir.glob("*.pump.bin"))
    stored.write_bytes(b"pump firmware 1.X")
    with pytest.raises(UpdateRefused, match="tampered"):
        DeviceUpdater(tmp_path / "net-device-2", http_server, root).install(
            "pump.bin", tmp_path / "net-device-2" / "pump.bin"
        )


def test_update_commands(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    firmware = tmp_path / "pump.bin"
    firmware.write_bytes(b"pump firmware 4.0")
    steps = [
        ["update", "init", str(repo), "--root-keys", "2", "--root-threshold", "2"],
        ["update", "add", str(repo), str(firmware), "--version", "4.0"],
        ["update", "sign", str(repo), "--role", "timestamp"],
        ["update", "rotate", str(repo), "--role", "snapshot"],
        ["update", "verify", str(repo)],
        [
            "update", "install", str(repo), "pump.bin",
            "--dest", str(tmp_path / "dev" / "pump.bin"),
            "--state", str(tmp_path / "dev" / "state"),
            "--root", str(repo / "metadata" / "1.root.json"),
        ],
    ]  # fmt: skip
    outputs = []
    for step in steps:
        result = run_cli(*step)
        assert result.exit_code == 0, (step, result.output, result.exception)
        outputs.append(result.output)
    assert "repository OK: 1 target(s) verified" in outputs[4]
    assert (tmp_path / "dev" / "pump.bin").read_bytes() == b"pump firmware 4.0"
    # Tampering makes verify fail with a clear refusal.
    next((repo / "targets").glob("*.pump.bin")).write_bytes(b"evil")
    result = run_cli("update", "verify", str(repo))
    assert result.exit_code != 0
    assert isinstance(result.exception, UpdateRefused)
