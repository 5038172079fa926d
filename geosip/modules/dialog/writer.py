"""Database writes off the Lua stack, in order (shared by dialog and acc).

A KSR function or a transaction callback may run with Lua on the stack or inline in
the transport's reader; a PostgreSQL query yields to the gevent hub, which must never
happen there (DESIGN.md, the Lua concurrency rule). So writes are queued and one
greenlet per writer runs them in order, each in its own connection context and
transaction (SQLite: the transaction never yields, STACK-NOTES.md §6). Order matters:
a dialog's insert must not overtake its delete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent
import peewee as pw
from gevent.event import AsyncResult
from gevent.queue import SimpleQueue

from geosip.db import models

log = logging.getLogger("geosip.db")


class DbWriter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.queue: SimpleQueue[Any] = SimpleQueue()
        self.worker: gevent.Greenlet | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job()` later in the writer's greenlet, inside a transaction."""
        self.queue.put(job)
        if self.worker is None or self.worker.dead:
            self.worker = gevent.spawn(self._run)

    def sync(self, timeout: float = 5.0) -> None:
        """Wait until what was submitted before has run (tests, shutdown)."""
        done: AsyncResult = AsyncResult()
        self.submit(lambda: done.set(True))
        done.get(timeout=timeout)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.kill(block=False)
            self.worker = None
        self.queue = SimpleQueue()

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                with models.database.connection_context():
                    with models.database.atomic():
                        job()
            except (pw.PeeweeException, AttributeError) as exc:  # AttributeError: no db
                log.error("%s: database write failed: %s", self.name, exc)
            except Exception:
                log.exception("%s: database write failed", self.name)
