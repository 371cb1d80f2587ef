"""The append-only audit log: who viewed or changed what, from where, with what outcome.

Requests hand entries to a queue and a writer thread inserts them in batches, so a slow
database write (an analysis job holding SQLite's write lock) never delays a page view.
``flush()`` waits until everything queued is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, insert, select

from medsentry.store.db import Store
from medsentry.store.models.auth import AuditRow

log = logging.getLogger(__name__)
AUDIT = cast(Table, AuditRow.__table__)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    via: str
    action: str
    method: str | None = None
    route: str | None = None
    target: str | None = None
    status: int | None = None
    ip: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def row(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "actor": self.actor[:64],
            "via": self.via[:16],
            "action": self.action[:32],
            "method": self.method,
            "route": None if self.route is None else self.route[:256],
            "target": None if self.target is None else self.target[:512],
            "status": self.status,
            "ip": None if self.ip is None else self.ip[:45],
            "detail": self.detail,
        }


def write_entries(store: Store, entries: list[AuditEntry]) -> None:
    if entries:
        with store.engine.begin() as conn:
            conn.execute(insert(AUDIT), [e.row() for e in entries])


class AuditLog:
    """Queued audit writer; ``record`` never blocks on the database."""

    def __init__(self, store: Store, batch: int = 500) -> None:
        self.store = store
        self.batch = batch
        self._queue: queue.Queue[AuditEntry | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        self._ensure_thread()
        self._queue.put(entry)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            entries: list[AuditEntry] = []
            stop = first is None
            if first is not None:
                entries.append(first)
            while not stop and len(entries) < self.batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    entries.append(more)
            self._store(entries)
            for _ in range(len(entries) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return

    def _store(self, entries: list[AuditEntry]) -> None:
        # Retry rather than drop: losing audit entries is worse than a late write.
        for attempt in range(5):
            try:
                write_entries(self.store, entries)
                return
            except Exception:  # database busy or gone; keep trying a while
                log.exception("audit log write failed (attempt %d)", attempt + 1)
                time.sleep(0.2 * (attempt + 1))
        log.error("audit log: %d entries could not be stored", len(entries))

    def flush(self) -> None:
        """Wait until every entry recorded so far is in the database."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        self._thread = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: float
    actor: str
    via: str
    action: str
    method: str | None
    route: str | None
    target: str | None
    status: int | None
    ip: str | None
    detail: dict[str, Any]


def list_audit(
    store: Store,
    actor: str | None = None,
    action: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditRecord], int]:
    """Audit entries, newest first, and how many match."""
    conds = []
    if actor is not None:
        conds.append(AUDIT.c.actor == actor)
    if action is not None:
        conds.append(AUDIT.c.action == action)
    if since is not None:
        conds.append(AUDIT.c.at >= since)
    if until is not None:
        conds.append(AUDIT.c.at < until)
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(AUDIT).where(*conds)).scalar_one()
        rows = conn.execute(
            select(AUDIT)
            .where(*conds)
            .order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    records = [
        AuditRecord(
            id=r.id,
            at=r.at,
            actor=r.actor,
            via=r.via,
            action=r.action,
            method=r.method,
            route=r.route,
            target=r.target,
            status=r.status,
            ip=r.ip,
            detail=dict(r.detail or {}),
        )
        for r in rows
    ]
    return records, int(total)
