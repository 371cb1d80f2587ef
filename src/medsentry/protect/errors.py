"""Errors of the protect layer; each message says what the user can do about it."""

from __future__ import annotations

from medsentry.errors import InputError, MedSentryError


class ProtectError(MedSentryError):
    """Base of the protect layer's deliberate errors."""


class ArchiveRefused(InputError):
    """An archive was not unpacked because unpacking it would be unsafe."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: refused: {reason}")


class DecompressionBombError(ArchiveRefused):
    """Unpacking would expand far beyond the size of the input or the configured limits."""


class UnsafePathError(ArchiveRefused):
    """A member would be written outside the extraction folder (path traversal)."""


class UpdateRepoError(ProtectError):
    """A TUF repository cannot be created, changed or verified."""


class IntegrityError(ProtectError):
    """An integrity manifest is unreadable or its signature does not verify."""


class KeyFileError(ProtectError):
    """A signing or verification key cannot be loaded."""
