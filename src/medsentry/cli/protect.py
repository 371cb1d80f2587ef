"""Protect: ``medsentry firmware scan``, ``medsentry update ...``, ``medsentry integrity ...``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medsentry.cli import app
from medsentry.errors import InputError

firmware_app = typer.Typer(
    help="Analyse device software: unpack, hardening, components, secrets, SBOM.",
    no_args_is_help=True,
)
update_app = typer.Typer(
    help="Signed updates with The Update Framework (TUF): repository and device client.",
    no_args_is_help=True,
)
integrity_app = typer.Typer(
    help="Signed integrity manifests of installed software trees.", no_args_is_help=True
)
app.add_typer(firmware_app, name="firmware")
app.add_typer(update_app, name="update")
app.add_typer(integrity_app, name="integrity")

_SEVERITIES = ("info", "low", "medium", "high", "critical")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=160)


# -- firmware ----------------------------------------------------------------------------


@firmware_app.command("scan")
def firmware_scan(
    path: Annotated[Path, typer.Argument(help="Firmware image, archive, package or folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    sbom: Annotated[
        Path | None, typer.Option("--sbom", help="Write a CycloneDX JSON SBOM here.")
    ] = None,
    sbom_version: Annotated[
        str, typer.Option(help="CycloneDX version of the SBOM: 1.5 or 1.6.")
    ] = "1.6",
    signatures: Annotated[
        Path | None,
        typer.Option(
            help="Component signature file (same layout as the packaged signatures.yaml)."
        ),
    ] = None,
    max_size_mb: Annotated[
        int, typer.Option(help="Stop unpacking beyond this many MB in total.")
    ] = 4096,
    max_files: Annotated[
        int, typer.Option(help="Stop unpacking beyond this many files.")
    ] = 200_000,
    max_depth: Annotated[int, typer.Option(help="Deepest nesting of containers to open.")] = 8,
    max_ratio: Annotated[
        float, typer.Option(help="Largest expansion ratio of one stream.")
    ] = 250.0,
    fail_on: Annotated[
        str | None, typer.Option(help="Exit with code 1 if a finding has at least this severity.")
    ] = None,
) -> None:
    """Unpack PATH and report components, binary hardening and secrets (masked)."""
    from medsentry.protect.components import load_signatures
    from medsentry.protect.report import render, report_to_dict
    from medsentry.protect.sbom import bom_json
    from medsentry.protect.scan import scan_path
    from medsentry.protect.secrets import SEVERITY_ORDER
    from medsentry.protect.unpack import UnpackLimits

    if fail_on is not None and fail_on not in _SEVERITIES:
        raise typer.BadParameter(f"--fail-on must be one of {', '.join(_SEVERITIES)}")
    limits = UnpackLimits(
        max_depth=max_depth,
        max_total_bytes=max_size_mb * 1024 * 1024,
        max_files=max_files,
        max_ratio=max_ratio,
    )
    report = scan_path(path, limits=limits, signatures=load_signatures(signatures))
    if sbom is not None:
        sbom.write_text(bom_json(report, sbom_version))
    if as_json:
        typer.echo(json.dumps(report_to_dict(report), indent=1))
    else:
        console = _console()
        render(report, console)
        if sbom is not None:
            console.print(f"SBOM (CycloneDX {sbom_version}) written to {escape(str(sbom))}")
    if fail_on is not None:
        threshold = SEVERITY_ORDER[fail_on]
        if any(SEVERITY_ORDER[f.severity] >= threshold for f in report.findings):
            raise typer.Exit(1)


# -- update ------------------------------------------------------------------------------


def _lifetimes(values: list[str]) -> dict[str, timedelta]:
    from medsentry.protect.updates.repository import ROLES

    lifetimes = {}
    for value in values:
        role, sep, days = value.partition("=")
        if not sep or role not in ROLES:
            raise typer.BadParameter(f"{value!r}: use ROLE=DAYS with ROLE one of {ROLES}")
        try:
            lifetimes[role] = timedelta(days=float(days))
        except ValueError as exc:
            raise typer.BadParameter(f"{value!r}: DAYS must be a number") from exc
    return lifetimes


@update_app.command("init")
def update_init(
    repo: Annotated[Path, typer.Argument(help="Folder of the new repository.")],
    keys: Annotated[
        Path | None, typer.Option(help="Key folder (default: REPO-keys beside it).")
    ] = None,
    root_keys: Annotated[int, typer.Option(help="Number of root keys.")] = 1,
    root_threshold: Annotated[int, typer.Option(help="Root signatures required.")] = 1,
    targets_keys: Annotated[int, typer.Option(help="Number of targets keys.")] = 1,
    targets_threshold: Annotated[int, typer.Option(help="Targets signatures required.")] = 1,
    expires: Annotated[
        list[str] | None,
        typer.Option(
            help="Role lifetime as ROLE=DAYS (defaults: root 365, targets 90, snapshot 7, "
            "timestamp 1)."
        ),
    ] = None,
) -> None:
    """Create a TUF repository with Ed25519 keys for root, targets, snapshot and timestamp."""
    from medsentry.protect.updates.repository import RoleSetup, UpdateRepository

    if expires is None:
        expires = []
    created = UpdateRepository.create(
        repo,
        keys,
        roles={
            "root": RoleSetup(root_keys, root_threshold),
            "targets": RoleSetup(targets_keys, targets_threshold),
        },
        expiry=_lifetimes(expires),
    )
    console = _console()
    console.print(f"repository created in {escape(str(repo))}")
    console.print(
        f"private keys in {escape(str(created.keys_dir))}: keep them off the update server; "
        "move root keys offline"
    )
    console.print(
        f"devices must ship {escape(str(repo / 'metadata' / '1.root.json'))} as their trusted root"
    )


_KEY_HELP = "Extra private key(s) for this operation, e.g. offline root or targets keys."


@update_app.command("add")
def update_add(
    repo: Annotated[Path, typer.Argument(help="Repository folder.")],
    file: Annotated[Path, typer.Argument(help="Update file to publish.")],
    name: Annotated[str | None, typer.Option(help="Target name (default: the file name).")] = None,
    version: Annotated[
        str | None, typer.Option(help="Software version; devices refuse to install an older one.")
    ] = None,
    key: Annotated[list[Path] | None, typer.Option(help=_KEY_HELP)] = None,
    keys: Annotated[Path | None, typer.Option(help="Key folder (default: REPO-keys).")] = None,
) -> None:
    """Publish FILE: new signed targets, snapshot and timestamp metadata."""
    from medsentry.protect.updates.repository import UpdateRepository

    info = UpdateRepository(repo, keys).add_target(
        file, name, {"version": version} if version else None, extra_keys=key
    )
    typer.echo(f"published {info.path} ({info.length} bytes, sha256 {info.hashes['sha256']})")


@update_app.command("sign")
def update_sign(
    repo: Annotated[Path, typer.Argument(help="Repository folder.")],
    role: Annotated[str, typer.Option(help="root, targets, snapshot or timestamp.")],
    key: Annotated[list[Path] | None, typer.Option(help=_KEY_HELP)] = None,
    expires_days: Annotated[
        float | None, typer.Option(help="Lifetime of the new version (default per role).")
    ] = None,
    keys: Annotated[Path | None, typer.Option(help="Key folder (default: REPO-keys).")] = None,
) -> None:
    """Publish a new signed version of ROLE with fresh expiry (sign timestamp regularly)."""
    from medsentry.protect.updates.repository import UpdateRepository

    lifetime = timedelta(days=expires_days) if expires_days is not None else None
    version = UpdateRepository(repo, keys).sign(role, key, lifetime)
    typer.echo(f"{role} version {version} signed and published")


@update_app.command("rotate")
def update_rotate(
    repo: Annotated[Path, typer.Argument(help="Repository folder.")],
    role: Annotated[str, typer.Option(help="Role whose keys are replaced.")],
    new_keys: Annotated[int, typer.Option(help="Number of new keys.")] = 1,
    threshold: Annotated[int, typer.Option(help="Signatures required with the new keys.")] = 1,
    key: Annotated[list[Path] | None, typer.Option(help=_KEY_HELP)] = None,
    keys: Annotated[Path | None, typer.Option(help="Key folder (default: REPO-keys).")] = None,
) -> None:
    """Replace ROLE's keys in a new root version (old keys revoked)."""
    from medsentry.protect.updates.repository import UpdateRepository

    root = UpdateRepository(repo, keys).rotate(role, new_keys, threshold, extra_keys=key)
    typer.echo(f"root version {root.version}: {role} now uses {new_keys} new key(s)")


@update_app.command("verify")
def update_verify(
    repo: Annotated[Path, typer.Argument(help="Repository folder.")],
    root: Annotated[
        Path | None,
        typer.Option(help="Trusted root a device ships with (default: REPO/metadata/1.root.json)."),
    ] = None,
) -> None:
    """Verify the repository as a device would: roles, signatures, expiry, every target."""
    from medsentry.protect.updates.device_client import verify_repository
    from medsentry.protect.updates.repository import UpdateRepository

    console = _console()
    table = Table(title="Roles")
    for column in ("role", "version", "expires", "signatures / threshold", "keys"):
        table.add_column(column)
    for status in UpdateRepository(repo).status():
        table.add_row(
            status.role,
            str(status.version),
            f"{status.expires:%Y-%m-%d %H:%M} UTC" + (" EXPIRED" if status.expired else ""),
            f"{status.valid_signatures} / {status.threshold}",
            str(status.keys),
        )
    console.print(table)
    result = verify_repository(repo, root)
    for name, length, digest in result.targets:
        console.print(f"verified {escape(name)}: {length} bytes, sha256 {digest}")
    console.print(f"repository OK: {len(result.targets)} target(s) verified")


@update_app.command("install")
def update_install(
    source: Annotated[str, typer.Argument(help="Repository URL or folder (e.g. a USB stick).")],
    name: Annotated[str, typer.Argument(help="Target to install.")],
    dest: Annotated[Path, typer.Option(help="Where to install the file.")],
    state: Annotated[Path, typer.Option(help="Device state folder (trusted metadata).")],
    root: Annotated[Path, typer.Option(help="Trusted root shipped with the device.")],
) -> None:
    """Device side: refresh trusted metadata, verify and install NAME."""
    from medsentry.protect.updates.device_client import DeviceUpdater

    try:
        trusted = root.read_bytes()
    except OSError as exc:
        raise InputError(f"{root}: cannot read the trusted root: {exc.strerror}") from exc
    installed = DeviceUpdater(state, source, trusted).install(name, dest)
    typer.echo(
        f"installed {installed.name} {installed.version or ''} to {installed.path} "
        f"(sha256 {installed.sha256})".replace("  ", " ")
    )


# -- integrity ---------------------------------------------------------------------------


@integrity_app.command("keygen")
def integrity_keygen(
    key: Annotated[Path, typer.Argument(help="Private key file to create (public key: KEY.pub).")],
) -> None:
    """Create an Ed25519 signing key (set MEDSENTRY_KEY_PASSPHRASE to encrypt it)."""
    from medsentry.protect.updates.keys import generate_key, public_path

    generate_key(key)
    typer.echo(f"private key {key}, public key {public_path(key)}")


@integrity_app.command("create")
def integrity_create(
    tree: Annotated[Path, typer.Argument(help="Installed software tree.")],
    key: Annotated[Path, typer.Option(help="Ed25519 private key to sign with.")],
    out: Annotated[Path, typer.Option(help="Manifest file to write.")],
    exclude: Annotated[
        list[str] | None, typer.Option(help="Glob of relative paths to leave out.")
    ] = None,
) -> None:
    """Write a signed manifest: sha256, size and mode of every file, link targets."""
    from medsentry.protect.integrity import create_manifest

    if exclude is None:
        exclude = []
    document = create_manifest(tree, key, out, exclude)
    typer.echo(f"{len(document['signed']['entries'])} entries signed into {out}")


@integrity_app.command("verify")
def integrity_verify(
    tree: Annotated[Path, typer.Argument(help="Installed software tree.")],
    manifest: Annotated[Path, typer.Option(help="Signed manifest.")],
    pubkey: Annotated[Path, typer.Option(help="Public key of the manifest signer.")],
) -> None:
    """Check TREE against its signed manifest; exit 1 when anything changed."""
    from medsentry.protect.integrity import verify_tree

    result = verify_tree(tree, manifest, pubkey)
    console = _console()
    for label, items in (
        ("modified", result.modified),
        ("added", result.added),
        ("removed", result.removed),
        ("mode changed", result.mode_changed),
        ("type changed", result.type_changed),
        ("link changed", result.link_changed),
    ):
        for item in items:
            console.print(f"{label}: {escape(item)}")
    if result.clean:
        console.print(f"intact: {result.checked} entries match the signed manifest")
        return
    console.print("[red]tampered[/red]: the tree differs from its signed manifest")
    raise typer.Exit(1)
