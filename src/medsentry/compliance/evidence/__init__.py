"""Evidence families: one module per kind of evidence, each registering its evaluators."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from medsentry.compliance.evaluators import Status


class DeviceFilter(BaseModel):
    """Parameters shared by evaluators that can look at some device types only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_types: tuple[str, ...] = Field(default=(), description="empty: every device")


def by_threshold(value: float, pass_at: float, partial_at: float) -> Status:
    """PASS at or above ``pass_at``, PARTIAL at or above ``partial_at``, else FAIL."""
    if value >= pass_at:
        return Status.PASS
    if value >= partial_at:
        return Status.PARTIAL
    return Status.FAIL


def percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def scope_words(device_types: tuple[str, ...]) -> str:
    return ", ".join(t.replace("_", " ") for t in device_types) if device_types else "all"
