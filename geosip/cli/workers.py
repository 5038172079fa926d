"""`geosip run --workers N`: N worker processes share the SIP ports (DESIGN.md, Scale).

The parent checks the configuration and that every port can be had, then forks the
workers and only watches them. Each worker binds the listen ports with SO_REUSEPORT,
so the kernel spreads peers over the workers by their address: every message from one
peer address (a call's retransmissions, its ACK and CANCEL) reaches the same worker,
which holds that call's transactions. Requests a worker sends leave from a UDP socket
of its own (TransportLayer.add_worker_sockets), so their responses come back to it.

What is not shared: each worker keeps its own statistics, transactions and in-memory
module state; registrations must live in the database (usrloc db_mode 3) for every
worker to see them (run.py refuses usrloc's other modes with more than one worker).
The control interface is served by worker 0.

Signals: SIGTERM/SIGINT stop every worker, then the parent; SIGHUP is passed on (each
worker reloads its script). A worker that dies after start-up is forked again; one
that fails while starting (a database that is down) stops the others, and the parent
exits with its code. A worker tells the parent it is ready by writing a byte to a
pipe (`ready()`), so a crash later is told apart from a failed start.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Callable

import gevent

log = logging.getLogger("geosip")

_STOP_WAIT = 10.0  # seconds the parent waits for workers after SIGTERM before SIGKILL


Ready = Callable[[], None]


def supervise(count: int, serve: Callable[[int, Ready], int]) -> int:
    """Fork `count` workers that each run serve(index, ready) and exit with its result
    (serve calls ready() once it serves); watch them until a signal stops them. Returns
    the exit code of `geosip run`."""
    workers: dict[int, tuple[int, int]] = {}  # pid -> (index, read end of its ready pipe)
    stopping: list[int] = []

    def fork(index: int) -> None:
        read_end, write_end = os.pipe()
        pid = gevent.fork()
        if pid == 0:  # the worker: never return into the parent's code
            os.close(read_end)
            code = 1
            try:
                code = serve(index, lambda: _tell_ready(write_end))
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(write_end)
        os.set_blocking(read_end, False)
        workers[pid] = (index, read_end)

    def forward(signum: int) -> None:
        if signum != signal.SIGHUP:
            stopping.append(signum)
        for pid in list(workers):
            _kill(pid, signum)

    handlers = [gevent.signal_handler(s, forward, s)
                for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)]
    try:
        for index in range(count):
            fork(index)
        log.info("geosip: %d workers", count)
        while workers:
            pid, status = _wait_any()
            if pid not in workers:
                continue
            index, read_end = workers.pop(pid)
            was_ready = _was_ready(read_end)
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                continue
            if not was_ready:
                log.error("worker %d could not start (exit %d): stopping", index, code)
                _stop_all(workers)
                return code if code > 0 else 1
            log.error("worker %d (pid %d) ended with %d: starting it again", index, pid, code)
            fork(index)
        return 0
    finally:
        for handler in handlers:
            handler.cancel()


def _tell_ready(write_end: int) -> None:
    os.write(write_end, b"r")
    os.close(write_end)


def _was_ready(read_end: int) -> bool:
    try:
        return os.read(read_end, 1) == b"r"
    except BlockingIOError:
        return False
    finally:
        os.close(read_end)


def _wait_any() -> tuple[int, int]:
    """The next worker that ended (waitpid, cooperative: gevent's child watcher)."""
    while True:
        try:
            return os.waitpid(-1, 0)
        except InterruptedError:
            continue


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _stop_all(workers: dict[int, tuple[int, int]]) -> None:
    for pid in workers:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_WAIT
    while workers and time.monotonic() < deadline:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid:
            workers.pop(pid, None)
        else:
            gevent.sleep(0.05)
    for pid in workers:
        _kill(pid, signal.SIGKILL)
