"""Thread-safe rates, latency windows and counters for the node's diagnostics. ROS-free."""
from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np


def process_rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (Linux /proc; elsewhere this process's peak from getrusage)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class RateMeter:
    """Events per second over the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._t: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self._t.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._t and self._t[0] < now - self.window_s:
                self._t.popleft()
            if len(self._t) < 2:
                return 0.0
            return (len(self._t) - 1) / max(self._t[-1] - self._t[0], 1e-6)


class Window:
    """The last `size` samples; median/max for reporting."""

    def __init__(self, size: int = 100):
        self._v: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._v.append(float(value))

    def median(self) -> float:
        with self._lock:
            return float(np.median(self._v)) if self._v else 0.0

    def max(self) -> float:
        with self._lock:
            return max(self._v) if self._v else 0.0


class NodeStats:
    def __init__(self):
        self.input = RateMeter()
        self.processed = RateMeter()
        self.latency_ms = Window()      # frame received -> results published
        self.age_ms = Window()          # header stamp -> results published (includes transport)
        self.estimator_ms = Window()    # the estimator's own time
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def snapshot_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)
