"""Background jobs: an uploaded capture is analysed (an SBOM or advisory imported and
matched) into the store on a worker thread while the browser polls its progress.

Jobs live in memory (the results themselves are in the store: captures, devices, flows,
events, alerts); a restart forgets the job list, not what the jobs produced.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from medsentry.analysis.run import analyze_capture
from medsentry.api.uploads import StoredUpload
from medsentry.errors import MedSentryError
from medsentry.store.db import Store

log = logging.getLogger(__name__)
KEEP_JOBS = 200

JobState = Literal["queued", "running", "done", "failed"]


@dataclass(slots=True)
class Job:
    id: str
    kind: str
    filename: str
    owner: str
    bytes_total: int
    state: JobState = "queued"
    stage: str = "waiting for a worker"
    progress: float = 0.0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[float, str], None]
# The work of a job: reads the upload into the store, reports progress, returns a summary.
Task = Callable[[Store, StoredUpload, ProgressFn], dict[str, Any]]


def analyse_capture(store: Store, upload: StoredUpload, progress: ProgressFn) -> dict[str, Any]:
    """Analyse an uploaded capture into the store, exactly as ``medsentry analyze`` does."""
    path = upload.path
    size = max(path.stat().st_size, 1)
    progress(0.0, "reading packets")
    result = analyze_capture(
        path,
        store=store,
        label=f"upload:{upload.filename}",
        progress=lambda pos, _n: progress(min(pos / size, 1.0) * 0.9, "reading packets"),
    )
    progress(0.95, "stored devices, flows and alerts")
    stats = result.stats
    return {
        "capture_id": result.capture_id,
        "packets": stats.packets,
        "flows": stats.flows,
        "events": stats.events,
        "alerts": stats.alerts,
        "devices": len(result.devices),
        "device_keys": sorted(d.key for d in result.devices)[:1000],
        "warnings": list(stats.errors),
    }


class JobManager:
    def __init__(self, store: Store, workers: int = 1) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analysis")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def submit_capture(self, upload: StoredUpload, owner: str) -> Job:
        return self.submit("capture", upload, owner, analyse_capture)

    def submit(
        self,
        kind: str,
        upload: StoredUpload,
        owner: str,
        task: Task,
        after: Callable[[], None] | None = None,
    ) -> Job:
        """Queue ``task`` over ``upload``; ``after`` runs once it ended, however it ended."""
        job = Job(
            id=uuid.uuid4().hex,
            kind=kind,
            filename=upload.filename,
            owner=owner,
            bytes_total=upload.size,
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job.id, upload, task, after)
        return replace(job)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                for name, value in changes.items():
                    setattr(job, name, value)

    def _run(
        self, job_id: str, upload: StoredUpload, task: Task, after: Callable[[], None] | None
    ) -> None:
        self._update(job_id, state="running", started_at=time.time(), stage="starting")
        try:
            try:
                result = task(
                    self.store,
                    upload,
                    lambda fraction, stage: self._update(job_id, progress=fraction, stage=stage),
                )
            finally:
                if after is not None:
                    after()  # before the job reads as ended, so pollers see its effects
        except MedSentryError as exc:
            self._update(job_id, state="failed", stage="failed", error=str(exc))
        except Exception as exc:  # a job must end, and say so, whatever went wrong
            log.exception("job %s failed", job_id)
            self._update(
                job_id,
                state="failed",
                stage="failed",
                error=f"the job failed unexpectedly ({type(exc).__name__}); see the server log",
            )
        else:
            self._update(job_id, state="done", stage="done", progress=1.0, result=result)
        finally:
            self._update(job_id, finished_at=time.time())
            upload.discard()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else replace(job, result=dict(job.result))

    def recent(self) -> list[Job]:
        with self._lock:
            return [replace(j, result=dict(j.result)) for j in reversed(self._jobs.values())]

    def counts(self) -> dict[str, int]:
        counts = {"queued": 0, "running": 0, "done": 0, "failed": 0}
        with self._lock:
            for job in self._jobs.values():
                counts[job.state] += 1
        return counts

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once no job is queued or running (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.counts()
            if counts["queued"] == 0 and counts["running"] == 0:
                return True
            time.sleep(0.05)
        return False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
