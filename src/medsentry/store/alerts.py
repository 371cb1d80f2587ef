"""Reading and writing alerts and device baselines (as the JSON the detectors produce).

Alerts are upserted by their deterministic id: analysing a capture twice leaves one row
per episode. The store does not know the detector classes, only their JSON.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from medsentry.store.alert_hosts import alert_hosts, link_hosts
from medsentry.store.db import Store
from medsentry.store.models.detect import AlertRow, BaselineRow

_ALERT_FIELDS = (
    "ts_start",
    "ts_end",
    "category",
    "name",
    "severity",
    "confidence",
    "src",
    "dst",
    "protocol",
    "source",
    "targets",
    "devices",
    "counts",
    "evidence",
    "mitre",
)
_LIMITS = {"name": 128, "src": 64, "dst": 72, "protocol": 16}


def _values(alert: dict[str, Any]) -> dict[str, Any]:
    out = {k: alert.get(k) for k in _ALERT_FIELDS}
    out["source"] = out["source"] or "rule"
    for key in ("targets", "counts", "evidence"):
        out[key] = out[key] or {}
    for key in ("devices", "mitre"):
        out[key] = out[key] or []
    for key, limit in _LIMITS.items():
        value = out[key]
        if isinstance(value, str):
            out[key] = value[:limit]
    return out


def save_alerts(
    store: Store, alerts: Iterable[dict[str, Any]], capture_id: int | None = None
) -> int:
    """Insert new alerts, update the ones already stored (same id); returns rows written."""
    rows = {a["id"]: a for a in alerts}
    if not rows:
        return 0
    with store.session() as s:
        existing = {
            r.alert_id: r for r in s.scalars(select(AlertRow).where(AlertRow.alert_id.in_(rows)))
        }
        written = []
        for alert_id, alert in rows.items():
            values = _values(alert)
            row = existing.get(alert_id)
            if row is None:
                row = AlertRow(alert_id=alert_id, capture_id=capture_id, **values)
                s.add(row)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            written.append(row)
        s.flush()  # new rows get their ids for the host links
        link_hosts(s, [(r.id, alert_hosts(r.src, r.dst, r.targets, r.devices)) for r in written])
    return len(rows)


def query_alerts(
    store: Store, category: str | None = None, limit: int = 1000, since: float | None = None
) -> list[dict[str, Any]]:
    """Alerts, newest first, as the JSON the detectors wrote."""
    stmt = select(AlertRow).order_by(AlertRow.ts_start.desc()).limit(limit)
    if category:
        stmt = stmt.where(AlertRow.category == category)
    if since is not None:
        stmt = stmt.where(AlertRow.ts_start >= since)
    with store.session() as s:
        return [
            {"id": r.alert_id, **{k: getattr(r, k) for k in _ALERT_FIELDS}} for r in s.scalars(stmt)
        ]


def save_baselines(store: Store, profiles: Iterable[dict[str, Any]]) -> int:
    now = time.time()
    rows = {p["device"]: p for p in profiles}
    with store.session() as s:
        existing = {
            r.device: r for r in s.scalars(select(BaselineRow).where(BaselineRow.device.in_(rows)))
        }
        for device, profile in rows.items():
            row = existing.get(device)
            values = {
                "state": profile.get("state", "learning"),
                "first_ts": float(profile["first_ts"]),
                "learned_until": profile.get("learned_until"),
                "updated_at": now,
                "profile": profile,
            }
            if row is None:
                s.add(BaselineRow(device=device, **values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
    return len(rows)


def load_baselines(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        return [
            dict(r.profile) for r in s.scalars(select(BaselineRow).order_by(BaselineRow.device))
        ]


def get_baseline(store: Store, device: str) -> dict[str, Any] | None:
    with store.session() as s:
        row = s.scalar(select(BaselineRow).where(BaselineRow.device == device))
        return dict(row.profile) | {"updated_at": row.updated_at} if row else None


def reset_baseline(store: Store, device: str) -> bool:
    """Forget a device's profile; it learns again from the next traffic."""
    with store.session() as s:
        row = s.scalar(select(BaselineRow).where(BaselineRow.device == device))
        if row is None:
            return False
        s.delete(row)
        return True
