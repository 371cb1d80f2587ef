"""One exception hierarchy; messages tell the user what to do next."""

from __future__ import annotations


class MedSentryError(Exception):
    """Base of every error MedSentry raises on purpose."""


class InputError(MedSentryError):
    """A file or argument the user gave cannot be used."""


class CaptureError(InputError):
    """A capture file is unreadable, truncated or corrupt.

    ``offset`` is the byte offset of the problem in the (decompressed) capture, and
    ``packets_read`` how many packets were delivered before it.
    """

    def __init__(self, path: str, offset: int, reason: str, packets_read: int = 0) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        self.packets_read = packets_read
        super().__init__(f"{path}: {reason} at byte offset {offset} (after {packets_read} packets)")


class UnsupportedCaptureError(InputError):
    """The capture is valid but its link type or format is not analysed."""


class StoreError(MedSentryError):
    """The database cannot be opened or migrated."""


class ConfigError(MedSentryError):
    """A data file (thresholds, rules, catalogues) failed validation."""
