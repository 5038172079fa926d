"""Child processes `geosip run` starts beside the core: gateways, the SNMP agent
(DESIGN.md, Processes: asyncio programs never share the core's gevent loop).

    from geosip.cli.children import Child, Supervisor

    supervisor = Supervisor([Child("xmpp", [sys.executable, "-m", "geosip.gateways.xmpp",
                                            "--config", json_text])])
    supervisor.start()      # spawns every child, returns at once
    ...
    supervisor.stop()       # SIGTERM each, SIGKILL after `stop_wait` seconds

To add a child: build a Child(name, argv) (argv[0] an absolute path: sys.executable
for a Python module) and put it in the list run.py hands to Supervisor; run.py builds
that list from the script's `geosip.gateways` table (gateway_children below), so a new
gateway is a package geosip.gateways.<name> with a __main__ taking `--config JSON`.

What the supervisor promises:
- a child that ends (crash, kill, exit of any code) while the supervisor runs is
  started again after a backoff: `backoff` seconds, doubled after each quick death up
  to `max_backoff`, back to `backoff` once a child has lived `stable` seconds;
- stop() ends them all: SIGTERM, then SIGKILL for one still there after `stop_wait`;
- children die with the process that started them (Linux PR_SET_PDEATHSIG, SIGTERM),
  so a geosip killed by SIGKILL leaves no gateway holding its ports;
- a child's stdout/stderr are geosip's (its log lines land in the same place).

With `geosip run --workers N`, worker 0 (the one that also serves the control
interface) runs the supervisor, not the parent: the parent reaps its workers with
waitpid(-1), which would steal the exit status of the gateways; and when worker 0 is
forked again its gateways end with it (PDEATHSIG) and come back with the new one.

Uses gevent: each child is watched by a greenlet (gevent.subprocess, cooperative).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import gevent
from gevent import subprocess  # cooperative waits, monkey-patched or not (unit tests)

log = logging.getLogger("geosip.children")

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Child:
    """A program to keep running: `name` for the logs, `argv` to exec, `env` added to
    geosip's environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


def _pdeathsig_setter():  # resolved in the parent: the forked child only calls it
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_pdeathsig


_SET_PDEATHSIG = _pdeathsig_setter()


class _Running:
    """One child's process and the greenlet that watches it."""

    __slots__ = ("child", "process", "greenlet", "started_at", "delay", "restarts")

    def __init__(self, child: Child, delay: float) -> None:
        self.child = child
        self.process: subprocess.Popen | None = None
        self.greenlet: gevent.Greenlet | None = None
        self.started_at = 0.0
        self.delay = delay
        self.restarts = 0


class Supervisor:
    """Starts `children`, restarts the ones that die, stops them all (module docstring)."""

    def __init__(self, children: Iterable[Child], *, backoff: float = 1.0,
                 max_backoff: float = 30.0, stable: float = 60.0,
                 stop_wait: float = 5.0) -> None:
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stable = stable
        self.stop_wait = stop_wait
        self._running = [_Running(child, backoff) for child in children]
        self._stopping = False

    @property
    def children(self) -> list[Child]:
        return [r.child for r in self._running]

    def pid(self, name: str) -> int | None:
        """The pid of child `name` while it runs (tests, logs)."""
        for running in self._running:
            if running.child.name == name and running.process is not None:
                return running.process.pid
        return None

    def status(self) -> list[dict[str, object]]:
        """Each child: name, pid (0 while it is down), running, restarts, uptime in
        seconds (the control interface's gateway.list and core.ps)."""
        now = time.monotonic()
        out: list[dict[str, object]] = []
        for running in self._running:
            process = running.process
            up = process is not None and process.poll() is None
            out.append({"name": running.child.name, "pid": process.pid if up else 0,
                        "running": up, "restarts": running.restarts,
                        "uptime": int(now - running.started_at) if up else 0})
        return out

    def start(self) -> None:
        """Spawn every child and a greenlet watching each; returns at once."""
        self._stopping = False
        for running in self._running:
            running.greenlet = gevent.spawn(self._keep, running)

    def stop(self) -> None:
        """End every child (SIGTERM, then SIGKILL after stop_wait) and wait for them."""
        self._stopping = True
        for running in self._running:
            if running.greenlet is not None:
                running.greenlet.kill(block=False)  # no restart from here on
        for running in self._running:
            _signal(running.process, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_wait
        for running in self._running:
            process = running.process
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM: killing it",
                            running.child.name, process.pid)
                _signal(process, signal.SIGKILL)
                process.wait()
            running.process = None

    def _keep(self, running: _Running) -> None:
        """Run the child until stop(); after each death wait the backoff and start it again."""
        child = running.child
        while not self._stopping:
            try:
                running.process = subprocess.Popen(
                    list(child.argv), env={**os.environ, **child.env},
                    preexec_fn=_SET_PDEATHSIG, close_fds=True)
            except OSError as e:  # a missing program: keep trying, it may be installed
                log.error("%s: cannot start %s: %s", child.name, child.argv[0], e)
                code = None
            else:
                running.started_at = time.monotonic()
                log.info("%s started (pid %d)", child.name, running.process.pid)
                code = running.process.wait()
                if self._stopping:
                    return
                if time.monotonic() - running.started_at >= self.stable:
                    running.delay = self.backoff
            running.restarts += 1
            log.error("%s ended (exit %s): starting it again in %.1f s",
                      child.name, code, running.delay)
            gevent.sleep(running.delay)
            running.delay = min(running.delay * 2, self.max_backoff)


def gateway_children(gateways: Mapping[str, Mapping[str, object]],
                     control_socket: str | None = None) -> list[Child]:
    """One Child per enabled gateway of the script's `geosip.gateways` table:
    `python -m geosip.gateways.<name> --config <its settings as JSON>`. A gateway whose
    table says `enabled = false` is left out. `control_socket` (the core's) goes into
    each one's settings: the gateway pushes its counters there (gateways/report.py)."""
    extra = {} if control_socket is None else {"control_socket": control_socket}
    return [Child(f"gateway {name}",
                  [sys.executable, "-m", f"geosip.gateways.{name}",
                   "--config", json.dumps({**settings, **extra}, sort_keys=True)])
            for name, settings in sorted(gateways.items())
            if settings.get("enabled", True) is not False]


def _signal(process: subprocess.Popen | None, signum: int) -> None:
    if process is None or process.returncode is not None:
        return
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass


__all__ = ["Child", "Supervisor", "gateway_children"]
