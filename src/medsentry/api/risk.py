"""A device's risk: the highest priority among the open findings of the SBOMs that
describe it (P1 is the most urgent), for the device list, its filter and the device page.

Findings hang off SBOMs, and an SBOM names a device model (and maybe its maker), so the
risk of every device model is one grouped query over the findings; it is kept for a few
seconds and dropped whenever findings change through the API.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true

from medsentry.store.db import Store
from medsentry.store.models.vuln import ComponentRow, FindingRow, SbomRow
from medsentry.store.repository import DEVICES
from medsentry.vuln.model import FindingState

PRIORITIES = ("P1", "P2", "P3", "P4")
OPEN_STATES = (FindingState.AFFECTED.value, FindingState.UNDER_INVESTIGATION.value)
TTL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ModelRisk:
    """The best priority of the open findings of SBOMs for ``model`` (lower case) by
    ``manufacturer`` (lower case; None: an SBOM that names no maker)."""

    manufacturer: str | None
    model: str
    priority: str

    def fits(self, manufacturer: str | None, model: str | None) -> bool:
        """Whether a device with this maker and model is described (as the findings
        list matches devices to SBOMs: same model, and same maker where both say one)."""
        if not model or model.lower() != self.model:
            return False
        return (
            self.manufacturer is None
            or not manufacturer
            or manufacturer.lower() == self.manufacturer
        )

    def condition(self) -> ColumnElement[bool]:
        same_model = func.lower(DEVICES.c.model) == self.model
        if self.manufacturer is None:
            return same_model
        return and_(
            same_model,
            or_(
                DEVICES.c.manufacturer.is_(None),
                func.lower(DEVICES.c.manufacturer) == self.manufacturer,
            ),
        )


def model_risks(store: Store) -> list[ModelRisk]:
    with store.session() as session:
        rows = session.execute(
            select(
                func.lower(SbomRow.manufacturer),
                func.lower(SbomRow.model),
                func.min(FindingRow.priority),
            )
            .join(ComponentRow, ComponentRow.sbom_id == SbomRow.id)
            .join(FindingRow, FindingRow.component_id == ComponentRow.id)
            .where(
                SbomRow.model.is_not(None),
                FindingRow.state.in_(OPEN_STATES),
                FindingRow.priority.in_(PRIORITIES),
            )
            .group_by(func.lower(SbomRow.manufacturer), func.lower(SbomRow.model))
        ).all()
    return [ModelRisk(maker or None, model, priority) for maker, model, priority in rows if model]


def device_risk(risks: list[ModelRisk], manufacturer: str | None, model: str | None) -> str | None:
    found = [r.priority for r in risks if r.fits(manufacturer, model)]
    return min(found) if found else None


def risk_condition(risks: list[ModelRisk], level: str) -> ColumnElement[bool]:
    """Devices whose risk is exactly ``level`` (``any``: devices with any open finding)."""
    if level == "any":
        return or_(false(), *(r.condition() for r in risks))
    at_level = [r.condition() for r in risks if r.priority == level]
    if not at_level:
        return false()
    higher = [r.condition() for r in risks if r.priority < level]
    return and_(or_(*at_level), not_(or_(*higher)) if higher else true())


class RiskCache:
    """``model_risks`` kept for a few seconds; ``invalidate`` after findings change."""

    def __init__(self, store: Store, ttl: float = TTL_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._held: tuple[float, list[ModelRisk]] | None = None

    def get(self) -> list[ModelRisk]:
        with self._lock:
            held = self._held
        if held is not None and time.monotonic() - held[0] < self.ttl:
            return held[1]
        risks = model_risks(self.store)
        with self._lock:
            self._held = (time.monotonic(), risks)
        return risks

    def invalidate(self) -> None:
        with self._lock:
            self._held = None
