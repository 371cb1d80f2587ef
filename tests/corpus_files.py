"""Finding the capture files of the reference corpus (by magic number, never by name)."""

from __future__ import annotations

import os
from pathlib import Path

from medsentry.capture.batch import SUPPORTED_LINKTYPES
from medsentry.capture.open import open_capture
from medsentry.config import corpus_dir
from medsentry.errors import UnsupportedCaptureError

MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


def capture_files(root: Path | None = None) -> list[Path]:
    base = (root or corpus_dir()) / "pcaps"
    if not base.exists():
        return []
    found = []
    for dirpath, _dirs, files in os.walk(base):
        for name in sorted(files):
            path = Path(dirpath) / name
            with open(path, "rb") as fh:
                head = fh.read(4)
            if head in MAGICS or head == b"\x0a\x0d\x0d\x0a":
                found.append(path)
    return sorted(found)


def supported(path: Path) -> bool:
    """True when every packet of the capture has a link type MedSentry decodes."""
    try:
        reader = open_capture(path)
    except UnsupportedCaptureError:
        return False
    try:
        return all(set(b.linktype.tolist()) <= SUPPORTED_LINKTYPES for b in reader.batches())
    finally:
        reader.source.close()


def ids(paths: list[Path]) -> list[str]:
    """Test ids: the path under pcaps/ (many corpus files share a name)."""
    return [str(p).split("/pcaps/", 1)[-1] for p in paths]
