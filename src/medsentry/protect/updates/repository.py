"""A TUF repository on disk for a device maker: keys, roles, thresholds, expiry, rotation.

Layout (consistent snapshots, so a client never mixes files of two publications)::

    REPO/metadata/N.root.json  N.targets.json  N.snapshot.json  timestamp.json
    REPO/targets/<sha256>.<name>
    REPO-keys/<role>-<n>.pem      private keys, kept apart from what gets published

Every private key in the key folder is matched to roles by key id, so signing only needs
the folder (offline keys can be added one at a time with :meth:`UpdateRepository.sign`).
"""

from __future__ import annotations

import copy
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from securesystemslib.signer import CryptoSigner
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from medsentry.protect.errors import UpdateRepoError
from medsentry.protect.updates.keys import generate_key, load_keystore, load_signer, public_path

ROLES = ("root", "targets", "snapshot", "timestamp")
DEFAULT_EXPIRY = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=7),
    "timestamp": timedelta(days=1),
}
_VERSIONED = re.compile(r"^(\d+)\.(root|targets|snapshot)\.json$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*$")


@dataclass(frozen=True)
class RoleSetup:
    keys: int = 1
    threshold: int = 1


@dataclass(frozen=True)
class RoleStatus:
    role: str
    version: int
    expires: datetime
    threshold: int
    keys: int
    valid_signatures: int

    @property
    def expired(self) -> bool:
        return self.expires <= datetime.now(UTC)


def default_keys_dir(repo: Path) -> Path:
    return repo.parent / f"{repo.name}-keys"


def _expiry(delta: timedelta) -> datetime:
    return (datetime.now(UTC) + delta).replace(microsecond=0)


class UpdateRepository:
    """Opens an existing repository (use :meth:`create` for a new one)."""

    def __init__(self, path: Path, keys_dir: Path | None = None) -> None:
        self.path = path
        self.metadata_dir = path / "metadata"
        self.targets_dir = path / "targets"
        self.keys_dir = keys_dir or default_keys_dir(path)
        if not (self.metadata_dir / "timestamp.json").exists():
            raise UpdateRepoError(
                f"{path}: not an update repository (create one with `medsentry update init`)"
            )

    # -- creation ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        keys_dir: Path | None = None,
        roles: dict[str, RoleSetup] | None = None,
        expiry: dict[str, timedelta] | None = None,
    ) -> UpdateRepository:
        """New repository with fresh Ed25519 keys for every role."""
        keys_dir = keys_dir or default_keys_dir(path)
        metadata_dir = path / "metadata"
        if metadata_dir.exists() and any(metadata_dir.iterdir()):
            raise UpdateRepoError(f"{path}: already holds metadata; refusing to overwrite it")
        setups = {role: (roles or {}).get(role, RoleSetup()) for role in ROLES}
        for role, setup in setups.items():
            if not 1 <= setup.threshold <= setup.keys:
                raise UpdateRepoError(
                    f"{role}: threshold {setup.threshold} needs between 1 and {setup.keys} keys"
                )
        lifetimes = {**DEFAULT_EXPIRY, **(expiry or {})}
        metadata_dir.mkdir(parents=True, exist_ok=True)
        (path / "targets").mkdir(exist_ok=True)

        root = Root(expires=_expiry(lifetimes["root"]), consistent_snapshot=True)
        for role, setup in setups.items():
            for index in range(1, setup.keys + 1):
                signer = generate_key(keys_dir / f"{role}-{index}.pem")
                root.add_key(signer.public_key, role)
            root.roles[role].threshold = setup.threshold
        repo_metadata: dict[str, Root | Targets | Snapshot | Timestamp] = {
            "root": root,
            "targets": Targets(expires=_expiry(lifetimes["targets"])),
            "snapshot": Snapshot(expires=_expiry(lifetimes["snapshot"])),
            "timestamp": Timestamp(expires=_expiry(lifetimes["timestamp"])),
        }
        repo = cls.__new__(cls)
        repo.path, repo.metadata_dir, repo.targets_dir = path, metadata_dir, path / "targets"
        repo.keys_dir = keys_dir
        signers = load_keystore(keys_dir)
        for role in ROLES:
            md: Metadata[Any] = Metadata(repo_metadata[role])
            repo._sign(md, role, root, signers)
            repo._write(md, role)
        return repo

    # -- reading -----------------------------------------------------------------------

    def _latest_version(self, role: str) -> int:
        versions = [
            int(m.group(1))
            for p in self.metadata_dir.iterdir()
            if (m := _VERSIONED.match(p.name)) and m.group(2) == role
        ]
        if not versions:
            raise UpdateRepoError(f"{self.path}: no {role} metadata found")
        return max(versions)

    def _file(self, role: str, version: int | None = None) -> Path:
        if role == "timestamp":
            return self.metadata_dir / "timestamp.json"
        return self.metadata_dir / f"{version or self._latest_version(role)}.{role}.json"

    def load(self, role: str, version: int | None = None) -> Metadata[Any]:
        try:
            return Metadata.from_file(str(self._file(role, version)))
        except (OSError, ValueError) as exc:
            raise UpdateRepoError(f"{self.path}: cannot read {role} metadata: {exc}") from exc

    def _typed(self, role: str, kind: type[Signed]) -> Metadata[Any]:
        md = self.load(role)
        if not isinstance(md.signed, kind):
            raise UpdateRepoError(f"{self.path}: {role} metadata has the wrong type")
        return md

    @property
    def root(self) -> Root:
        return cast(Root, self._typed("root", Root).signed)

    def targets(self) -> dict[str, TargetFile]:
        return dict(cast(Targets, self._typed("targets", Targets).signed).targets)

    def status(self) -> list[RoleStatus]:
        """Version, expiry, threshold and valid signatures of every top-level role."""
        root = self.root
        result = []
        for role in ROLES:
            md = self.load(role)
            role_info = root.roles[role]
            verification = root.get_verification_result(role, md.signed_bytes, md.signatures)
            result.append(
                RoleStatus(
                    role,
                    md.signed.version,
                    md.signed.expires,
                    role_info.threshold,
                    len(role_info.keyids),
                    len(verification.signed),
                )
            )
        return result

    # -- writing -----------------------------------------------------------------------

    def _write(self, md: Metadata[Any], role: str) -> None:
        path = self._file(role, md.signed.version)
        tmp = path.with_name(path.name + ".tmp")
        md.to_file(str(tmp), JSONSerializer(compact=False))
        tmp.replace(path)

    def _sign(
        self,
        md: Metadata[Any],
        role: str,
        root: Root,
        signers: dict[str, CryptoSigner],
        require_threshold: bool = True,
    ) -> None:
        """Sign with every available key the root authorises for ``role``."""
        md.signatures.clear()
        for keyid in root.roles[role].keyids:
            if keyid in signers:
                md.sign(signers[keyid], append=True)
        if require_threshold:
            self._check_threshold(md, role, root)

    @staticmethod
    def _check_threshold(md: Metadata[Any], role: str, root: Root) -> None:
        needed = root.roles[role].threshold
        if len(md.signatures) < needed:
            raise UpdateRepoError(
                f"{role} needs {needed} signatures but only {len(md.signatures)} of its keys "
                "are in the key folder; add the offline keys with `medsentry update sign`"
            )

    def _bump(self, md: Metadata[Any], role: str, lifetime: timedelta | None) -> None:
        md.signed.version += 1
        md.signed.expires = _expiry(lifetime or DEFAULT_EXPIRY[role])

    def _publish_snapshot(
        self, signers: dict[str, CryptoSigner], lifetime: timedelta | None
    ) -> None:
        root = self.root
        targets = self.load("targets")
        snapshot = self._typed("snapshot", Snapshot)
        snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
        self._bump(snapshot, "snapshot", None)
        self._sign(snapshot, "snapshot", root, signers)
        self._write(snapshot, "snapshot")
        self._publish_timestamp(signers, lifetime)

    def _publish_timestamp(
        self, signers: dict[str, CryptoSigner], lifetime: timedelta | None
    ) -> None:
        snapshot = self.load("snapshot")
        timestamp = self._typed("timestamp", Timestamp)
        timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
        self._bump(timestamp, "timestamp", lifetime)
        self._sign(timestamp, "timestamp", self.root, signers)
        self._write(timestamp, "timestamp")

    # -- operations --------------------------------------------------------------------

    def signers(self, extra_keys: list[Path] | None = None) -> dict[str, CryptoSigner]:
        """Keys of the key folder plus offline keys given for this operation."""
        signers = load_keystore(self.keys_dir)
        for path in extra_keys or []:
            signer = load_signer(path)
            signers[signer.public_key.keyid] = signer
        return signers

    def add_target(
        self,
        file: Path,
        name: str | None = None,
        custom: dict[str, Any] | None = None,
        extra_keys: list[Path] | None = None,
        timestamp_lifetime: timedelta | None = None,
    ) -> TargetFile:
        """Publish ``file`` as target ``name``: new targets, snapshot and timestamp versions."""
        name = name or file.name
        if not _SAFE_NAME.match(name) or ".." in name.split("/"):
            raise UpdateRepoError(f"{name!r}: target names are relative paths of [A-Za-z0-9._+-]")
        if not file.is_file():
            raise UpdateRepoError(f"{file}: not a file")
        signers = self.signers(extra_keys)
        info = TargetFile.from_file(name, str(file), ["sha256"])
        if custom:
            info.unrecognized_fields["custom"] = custom
        targets = self._typed("targets", Targets)
        targets.signed.targets[name] = info
        self._bump(targets, "targets", None)
        self._sign(targets, "targets", self.root, signers)  # fails before anything is written

        digest = info.hashes["sha256"]
        folder, _, base = name.rpartition("/")
        destination = self.targets_dir / folder / f"{digest}.{base}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, destination)
        self._write(targets, "targets")
        self._publish_snapshot(signers, timestamp_lifetime)
        return info

    def sign(
        self,
        role: str,
        extra_keys: list[Path] | None = None,
        lifetime: timedelta | None = None,
    ) -> int:
        """Publish a new version of ``role`` with fresh expiry, signed by the available keys.

        ``sign timestamp`` is the regular refresh; ``sign root`` extends the root (its offline
        keys passed as ``extra_keys``); targets and snapshot cascade to what depends on them.
        Returns the new version.
        """
        if role not in ROLES:
            raise UpdateRepoError(f"{role!r} is not a role; use one of {', '.join(ROLES)}")
        signers = self.signers(extra_keys)
        if role == "root":
            root_md = self._typed("root", Root)
            previous = copy.deepcopy(cast(Root, root_md.signed))
            self._bump(root_md, "root", lifetime)
            self._sign_root(root_md, previous, signers)
            self._write(root_md, "root")
        elif role == "targets":
            targets = self._typed("targets", Targets)
            self._bump(targets, "targets", lifetime)
            self._sign(targets, "targets", self.root, signers)
            self._write(targets, "targets")
            self._publish_snapshot(signers, None)
        elif role == "snapshot":
            self._publish_snapshot(signers, None)
        else:
            self._publish_timestamp(signers, lifetime)
        return int(self.load(role).signed.version)

    def _sign_root(
        self, root_md: Metadata[Any], previous: Root, signers: dict[str, CryptoSigner]
    ) -> None:
        """A new root must satisfy both the previous root's keys and its own."""
        root = cast(Root, root_md.signed)
        root_md.signatures.clear()
        for keyid in set(previous.roles["root"].keyids) | set(root.roles["root"].keyids):
            if keyid in signers:
                root_md.sign(signers[keyid], append=True)
        for check in (previous, root):
            try:
                check.verify_delegate("root", root_md.signed_bytes, root_md.signatures)
            except UnsignedMetadataError as exc:
                raise UpdateRepoError(
                    "the new root lacks signatures from the root keys; pass the offline root "
                    "keys with --key"
                ) from exc

    def rotate(
        self,
        role: str,
        new_keys: int = 1,
        threshold: int | None = None,
        extra_keys: list[Path] | None = None,
        root_lifetime: timedelta | None = None,
    ) -> Root:
        """Replace the keys of ``role`` in a new root version; old keys are revoked.

        The new root is signed by the current root keys (so devices can follow the chain)
        and, when the root keys themselves change, by the new ones too. Revoked private keys
        are moved to ``<keys>/revoked``.
        """
        if role not in ROLES:
            raise UpdateRepoError(f"{role!r} is not a role; use one of {', '.join(ROLES)}")
        threshold = threshold or 1
        if not 1 <= threshold <= new_keys:
            raise UpdateRepoError(f"threshold {threshold} needs between 1 and {new_keys} keys")
        signers = self.signers(extra_keys)
        root_md = self._typed("root", Root)
        previous = copy.deepcopy(cast(Root, root_md.signed))  # to_dict shares lists
        root = cast(Root, root_md.signed)
        old_keyids = list(root.roles[role].keyids)
        next_version = root.version + 1
        created: list[Path] = []
        try:
            for index in range(1, new_keys + 1):
                path = self.keys_dir / f"{role}-v{next_version}-{index}.pem"
                signer = generate_key(path)
                created.append(path)
                signers[signer.public_key.keyid] = signer
                root.add_key(signer.public_key, role)
            for keyid in old_keyids:
                root.revoke_key(keyid, role)
            root.roles[role].threshold = threshold
            self._bump(root_md, "root", root_lifetime)
            self._sign_root(root_md, previous, signers)
        except UpdateRepoError:
            for path in created:  # nothing was published: drop the unused new keys
                path.unlink(missing_ok=True)
                public_path(path).unlink(missing_ok=True)
            raise
        self._write(root_md, "root")
        self._retire_keys(old_keyids)

        # Re-sign the rotated role (and what depends on it) with its new keys.
        current = self.signers(extra_keys)
        if role == "targets":
            targets = self._typed("targets", Targets)
            self._bump(targets, "targets", None)
            self._sign(targets, "targets", root, current)
            self._write(targets, "targets")
            self._publish_snapshot(current, None)
        elif role == "snapshot":
            self._publish_snapshot(current, None)
        elif role == "timestamp":
            self._publish_timestamp(current, None)
        return root

    def _retire_keys(self, keyids: list[str]) -> None:
        """Move revoked private keys out of the signing folder (kept for audit)."""
        revoked = self.keys_dir / "revoked"
        still_used = {k for r in ROLES for k in self.root.roles[r].keyids}
        for path in sorted(self.keys_dir.glob("*.pem")):
            keyid = load_signer(path).public_key.keyid
            if keyid in keyids and keyid not in still_used:
                revoked.mkdir(exist_ok=True)
                path.rename(revoked / path.name)
                pub = public_path(path)
                if pub.exists():
                    pub.rename(revoked / pub.name)
