"""The Slack app's work after the acknowledgement: a bounded pool of workers, each Slack
event handled once however often Slack resends it, and a per-user rate limit."""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

SEEN_TTL_S = 60 * 60  # Slack retries within minutes; an hour is ample


class SeenOnce:
    """Keys remembered for a while: `first(key)` is True only the first time (thread-safe)."""

    def __init__(self, ttl_s: float = SEEN_TTL_S):
        self.ttl_s = ttl_s
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._until) > 10_000:  # keep it small without a sweeper thread
                self._until = {k: t for k, t in self._until.items() if t > now}
            if self._until.get(key, 0) > now:
                return False
            self._until[key] = now + self.ttl_s
            return True


class RateLimiter:
    """At most `per_minute` questions per user in any 60 s window (0 = unlimited)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._times: dict[str, deque[float]] = {}
        self._told: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_refusal(self, user: str) -> bool:
        """True once a minute per user: a flood is told to slow down once, not once per
        message (which would make the bot flood Slack in turn)."""
        now = time.monotonic()
        with self._lock:
            if self._told.get(user, -60.0) > now - 60:
                return False
            self._told[user] = now
            return True

    def allow(self, user: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            times = self._times.setdefault(user, deque())
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True


class Workers(ThreadPoolExecutor):
    """The pool lazy listeners run on; counts work in flight so shutdown and tests can wait."""

    def __init__(self, max_workers: int):
        super().__init__(max_workers=max(1, max_workers), thread_name_prefix="slack-worker")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any):  # type: ignore[override]
        with self._idle:
            self._pending += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        return super().submit(run)

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)
