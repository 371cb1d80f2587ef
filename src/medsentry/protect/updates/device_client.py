"""Device-side updater: installs a target only after the full TUF client workflow.

python-tuf's ngclient does the checks (signature thresholds, expiry, version rollback,
snapshot/targets consistency, target length and hashes); this module keeps the device's
trusted state between runs, adds a refusal to install an older software version, installs
atomically, and turns each refusal into a message that names the attack it stopped.

Updates can come over HTTP(S) or from a local folder (USB stick, SD card)::

    updater = DeviceUpdater(state_dir, "https://updates.example/repo", shipped_root_bytes)
    updater.install("pump-firmware.bin", Path("/opt/pump/firmware.bin"))
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import TargetFile
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

from medsentry.protect.errors import ProtectError

_CHUNK = 1 << 16


class UpdateRefused(ProtectError):
    """The update was refused; ``attack`` names what the refusal protects against."""

    def __init__(self, attack: str, message: str, cause: Exception | None = None) -> None:
        self.attack = attack
        self.cause = cause
        super().__init__(f"update refused ({attack}): {message}")


class LocalFetcher(FetcherInterface):
    """Serves ``file://`` URLs from a folder, for updates from removable media."""

    def _fetch(self, url: str) -> Iterator[bytes]:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            raise tuf_errors.DownloadError(f"{url}: only file:// URLs are served locally")
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise tuf_errors.DownloadHTTPError(f"{path} not found", 404)
        return self._chunks(path)

    @staticmethod
    def _chunks(path: Path) -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk


@dataclass(frozen=True)
class Installed:
    name: str
    version: str | None
    path: Path
    sha256: str
    length: int


def explain(exc: Exception) -> UpdateRefused:
    """Name the attack class behind a python-tuf error."""
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return UpdateRefused(
            "freeze or expired metadata",
            f"{exc}; the repository has not been refreshed in time, or an attacker is "
            "replaying old metadata",
            exc,
        )
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return UpdateRefused(
            "rollback or mix-and-match",
            f"{exc}; metadata older than what this device already trusts, or files from "
            "different publications, were offered",
            exc,
        )
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return UpdateRefused(
            "insufficient signatures",
            f"{exc}; the metadata is not signed by the threshold of trusted keys",
            exc,
        )
    if isinstance(exc, tuf_errors.LengthOrHashMismatchError):
        return UpdateRefused(
            "tampered data",
            f"{exc}; the downloaded bytes do not match the signed metadata",
            exc,
        )
    if isinstance(exc, tuf_errors.DownloadError):
        return UpdateRefused("unavailable", f"{exc}; check the update source", exc)
    return UpdateRefused("invalid metadata", str(exc), exc)


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    parts = []
    for piece in version.replace("-", ".").split("."):
        parts.append((int(piece), "") if piece.isdigit() else (-1, piece))
    return tuple(parts)


class DeviceUpdater:
    """Trusted update state of one device, kept in ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        repository: str,
        trusted_root: bytes,
        fetcher: FetcherInterface | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.metadata_dir = state_dir / "metadata"
        self.download_dir = state_dir / "downloads"
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        self.download_dir.mkdir(parents=True, exist_ok=True)
        self.trusted_root = trusted_root
        if "://" not in repository:
            repository = Path(repository).resolve().as_uri()
            fetcher = fetcher or LocalFetcher()
        self.repository = repository.rstrip("/")
        self.fetcher = fetcher

    def _updater(self) -> Updater:
        try:
            return Updater(
                metadata_dir=str(self.metadata_dir),
                metadata_base_url=f"{self.repository}/metadata/",
                target_dir=str(self.download_dir),
                target_base_url=f"{self.repository}/targets/",
                fetcher=self.fetcher,
                bootstrap=self.trusted_root,
            )
        except tuf_errors.RepositoryError as exc:
            raise explain(exc) from exc

    def refresh(self) -> Updater:
        """Run the TUF refresh (root, timestamp, snapshot, targets); raises UpdateRefused."""
        updater = self._updater()
        try:
            updater.refresh()
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            raise explain(exc) from exc
        return updater

    def target_info(self, name: str, updater: Updater | None = None) -> TargetFile:
        updater = updater or self.refresh()
        try:
            info = updater.get_targetinfo(name)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            raise explain(exc) from exc
        if info is None:
            raise UpdateRefused("unknown target", f"{name!r} is not listed in signed metadata")
        return info

    def download(self, name: str) -> tuple[TargetFile, Path]:
        """Fetch a verified copy of target ``name`` into the download folder."""
        updater = self.refresh()
        info = self.target_info(name, updater)
        try:
            path = updater.find_cached_target(info) or updater.download_target(info)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            raise explain(exc) from exc
        return info, Path(path)

    def install(self, name: str, destination: Path) -> Installed:
        """Download, verify and atomically install ``name``; refuses an older version."""
        info, path = self.download(name)
        version = info.custom.get("version") if isinstance(info.custom, dict) else None
        installed = self._installed_versions()
        current = installed.get(name)
        if (
            version is not None
            and current is not None
            and _version_key(str(version)) < _version_key(current)
        ):
            raise UpdateRefused(
                "software downgrade", f"{name} {version} is older than the installed {current}"
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, destination)
        if version is not None:
            installed[name] = str(version)
            self._save_installed(installed)
        return Installed(name, version, destination, info.hashes["sha256"], info.length)

    def _installed_versions(self) -> dict[str, str]:
        path = self.state_dir / "installed.json"
        if not path.exists():
            return {}
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.items()}

    def _save_installed(self, installed: dict[str, str]) -> None:
        path = self.state_dir / "installed.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(installed, indent=1, sort_keys=True))
        os.replace(tmp, path)


@dataclass(frozen=True)
class VerifyResult:
    targets: list[tuple[str, int, str]]  # (name, length, sha256) of each verified target


def verify_repository(repo: Path, trusted_root: Path | None = None) -> VerifyResult:
    """Check a repository the way a device would: every target through the TUF workflow.

    ``trusted_root`` is the root a device ships with; by default the repository's first
    root (1.root.json), so the whole chain of root rotations is verified too.
    """
    root_path = trusted_root or repo / "metadata" / "1.root.json"
    try:
        root_bytes = root_path.read_bytes()
    except OSError as exc:
        raise ProtectError(f"{root_path}: cannot read the trusted root: {exc.strerror}") from exc
    with tempfile.TemporaryDirectory(prefix="medsentry-verify-") as state:
        client = DeviceUpdater(Path(state), str(repo), root_bytes)
        updater = client.refresh()
        names = _listed_targets(repo)
        verified = []
        for name in names:
            info = client.target_info(name, updater)
            try:
                updater.download_target(info)
            except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
                raise explain(exc) from exc
            verified.append((name, info.length, info.hashes.get("sha256", "")))
    return VerifyResult(verified)


def _listed_targets(repo: Path) -> list[str]:
    """Target names from the newest targets file; each is then looked up in verified data."""
    candidates = sorted(
        (p for p in (repo / "metadata").glob("*.targets.json") if p.name.split(".")[0].isdigit()),
        key=lambda p: int(p.name.split(".")[0]),
    )
    if not candidates:
        return []
    data = json.loads(candidates[-1].read_text())
    return sorted(data.get("signed", {}).get("targets", {}))
