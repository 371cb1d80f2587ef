"""See: analyse captures, list devices and flows."""

from __future__ import annotations

from medsentry.cli import app  # noqa: F401
