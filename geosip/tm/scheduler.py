"""One greenlet that fires the timers of every transaction.

A transaction's state machines arm timers (RFC 3261 Table 4 names); the transaction
asks for a wake-up at the earliest deadline with `wake_at(deadline, target)`, and the
scheduler calls `target.on_timers(now)` once that time has come. Cancelling is lazy:
an early or stale wake-up finds no due timer in the machines and does nothing, so a
timer is never tracked in two places. Callbacks run in the scheduler's greenlet and
must not block (the transaction posts to its own greenlet what needs waiting).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from typing import Protocol

import gevent
from gevent.event import Event

log = logging.getLogger("geosip.tm")

# Timers due within this many seconds fire together: SIP's timers are hundreds of ms or
# more, and batching saves a hub wake-up per armed timer under load.
SLACK = 0.005


class TimerTarget(Protocol):
    def on_timers(self, now: float) -> None: ...


class Scheduler:
    """A heap of (deadline, seq, target) served by one greenlet."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerTarget]] = []
        self._seq = itertools.count()
        self._wake = Event()
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self._heap.clear()

    def wake_at(self, deadline: float, target: TimerTarget) -> None:
        """Call target.on_timers(now) at (or soon after) `deadline` (time.monotonic)."""
        heap = self._heap
        if not heap or deadline < heap[0][0]:
            self._wake.set()
        heapq.heappush(heap, (deadline, next(self._seq), target))

    def pending(self) -> int:
        return len(self._heap)

    def _run(self) -> None:
        heap = self._heap
        while True:
            now = time.monotonic()
            while heap and heap[0][0] <= now + SLACK:
                _, _, target = heapq.heappop(heap)
                try:
                    target.on_timers(now)
                except Exception:  # a bug in one transaction must not stop every timer
                    log.exception("timer callback failed")
                del target  # a finished transaction must not stay referenced from here
            self._wake.clear()
            timeout = max(heap[0][0] - time.monotonic(), SLACK) if heap else None
            self._wake.wait(timeout)
