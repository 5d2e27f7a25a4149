"""Questions first: background work (the long-lived processes' idle-time work) goes in small
steps, each begun only while no question is being answered, so a question waits at most for
the one step in progress and never competes with the rest for the CPU."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

# How often a waiting background worker looks at its stop event (a question ending wakes it at
# once; `stop` is a plain Event, which cannot wake a condition).
STOP_CHECK_S = 0.25


class Turns:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._questions = 0  # being answered now
        self._stepping = False  # a background step is running
        self.answered = 0  # questions finished so far: a worker waits for this to move

    @property
    def questions(self) -> int:
        """Questions being answered, or waiting for a background step to end, now."""
        return self._questions

    @contextmanager
    def question(self) -> Iterator[None]:
        """Hold while answering: no background step starts meanwhile, and one in progress is
        waited for (it is small)."""
        with self._cond:
            self._questions += 1
            while self._stepping:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._questions -= 1
                self.answered += 1
                self._cond.notify_all()

    @contextmanager
    def step(self, stop: threading.Event) -> Iterator[bool]:
        """Hold for one small background step, taken once no question is being answered:
        yields True, or False (take no step) when `stop` was set meanwhile."""
        with self._cond:
            while self._questions and not stop.is_set():
                self._cond.wait(STOP_CHECK_S)
            if stop.is_set():
                go = False
            else:
                go = self._stepping = True
        try:
            yield go
        finally:
            if go:
                with self._cond:
                    self._stepping = False
                    self._cond.notify_all()

    def wait_for_question(self, seen: int, stop: threading.Event) -> int:
        """Wait until more than `seen` questions were answered (or `stop` is set); the count."""
        with self._cond:
            while self.answered == seen and not stop.is_set():
                self._cond.wait(STOP_CHECK_S)
            return self.answered
