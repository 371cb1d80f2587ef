"""What the app's routes share: the store, settings and the long-lived helpers."""

from __future__ import annotations

from dataclasses import dataclass

from medsentry.api.auth.audit import AuditLog
from medsentry.api.auth.throttle import LoginThrottle
from medsentry.api.jobs import JobManager
from medsentry.api.metrics import Metrics
from medsentry.api.risk import RiskCache
from medsentry.api.settings import ApiSettings
from medsentry.store.db import Store


@dataclass(slots=True)
class AppContext:
    store: Store
    settings: ApiSettings
    audit: AuditLog
    throttle: LoginThrottle
    jobs: JobManager
    metrics: Metrics
    risks: RiskCache

    @classmethod
    def build(cls, store: Store, settings: ApiSettings) -> AppContext:
        jobs = JobManager(store, settings.analysis_workers)
        return cls(
            store=store,
            settings=settings,
            audit=AuditLog(store),
            throttle=LoginThrottle(
                settings.login_failures_per_user,
                settings.login_failures_per_address,
                settings.login_window_seconds,
            ),
            jobs=jobs,
            metrics=Metrics(store, jobs.counts),
            risks=RiskCache(store),
        )

    def close(self) -> None:
        self.jobs.shutdown()
        self.audit.close()
