"""Server settings: one frozen object, built by ``medsentry serve`` or by tests."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1 << 20


def _default_work_dir() -> Path:
    return Path(tempfile.gettempdir()) / "medsentry-uploads"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    # Session cookies carry the Secure flag; turn off only to serve plain HTTP beyond
    # localhost (browsers accept Secure cookies from http://localhost and 127.0.0.1).
    secure_cookies: bool = True
    max_capture_bytes: int = 1024 * MIB
    max_document_bytes: int = 32 * MIB
    # A decompressed upload may be at most this many times its compressed size.
    max_expansion_ratio: int = 200
    work_dir: Path = field(default_factory=_default_work_dir)
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window_seconds: float = 900.0
    # Concurrent analysis jobs; analysis is CPU-bound, so more than the cores is no faster.
    analysis_workers: int = 1
