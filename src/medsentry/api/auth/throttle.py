"""Login throttling: too many failures for one user name, or from one address, within a
window refuse further attempts until the oldest failure leaves the window.

Kept in memory: `medsentry serve` is one process, and a restart forgetting the counts
costs an attacker a restart, which they cannot cause.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self,
        per_user: int = 5,
        per_address: int = 20,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return deque()
        return times

    def retry_after(self, username: str, address: str) -> float:
        """Seconds to wait before another attempt is allowed (0 when allowed now)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key, limit in (
                (f"u:{username.lower()}", self.per_user),
                (f"a:{address}", self.per_address),
            ):
                times = self._recent(key, now)
                if len(times) >= limit:
                    wait = max(wait, self.window - (now - times[-limit]))
        return wait

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._failures[f"u:{username.lower()}"].append(now)
            self._failures[f"a:{address}"].append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{username.lower()}", None)
