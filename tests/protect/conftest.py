"""Fixtures for the protect tests: the Debian packages of the corpus, extracted once."""

from __future__ import annotations

import csv
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner


@dataclass(frozen=True)
class DebPackage:
    file: Path
    arch: str
    package: str
    version: str  # Debian version, e.g. 1:1.2.13.dfsg-1
    source: str  # Debian source package, e.g. zlib
    root: Path  # where the package was extracted

    @property
    def upstream_version(self) -> str:
        """The upstream version inside a Debian version: no epoch, revision or dfsg tag."""
        version = self.version.split(":", 1)[-1].rsplit("-", 1)[0]
        return re.sub(r"[.+~]dfsg.*$", "", version)


def read_packages(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "protect" / "debs" / "packages.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture(scope="session")
def debs(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[DebPackage]:
    """Every corpus .deb, extracted with dpkg-deb (the packaging tool, not our unpacker)."""
    out = tmp_path_factory.mktemp("debs")
    packages = []
    for row in read_packages(corpus):
        deb = corpus / "protect" / "debs" / row["file"]
        root = out / Path(row["file"]).stem
        root.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        packages.append(
            DebPackage(
                deb, row["arch_dir"], row["package"], row["version"], row["source"].split()[0], root
            )
        )
    return packages


def elf_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def run_cli(*args: str) -> Result:
    """Invoke the protect commands in-process (the same Typer app `medsentry` runs)."""
    import medsentry.cli.protect  # noqa: F401  (registers the command families)
    from medsentry.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
