"""geosip/cli/children.py: children are started, restarted after they die, stopped."""

from __future__ import annotations

import os
import signal
import sys

import gevent

from geosip.cli.children import Child, Supervisor, gateway_children

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _wait_for(predicate, limit: float = 10.0) -> None:
    with gevent.Timeout(limit):
        while not predicate():
            gevent.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_killed_child_is_started_again_and_stop_ends_it() -> None:
    supervisor = Supervisor([Child("sleeper", SLEEPER)], backoff=0.05)
    supervisor.start()
    try:
        _wait_for(lambda: supervisor.pid("sleeper") is not None)
        first = supervisor.pid("sleeper")
        os.kill(first, signal.SIGKILL)
        _wait_for(lambda: supervisor.pid("sleeper") not in (None, first))
        second = supervisor.pid("sleeper")
    finally:
        supervisor.stop()
    assert not _alive(second)
    assert supervisor.pid("sleeper") is None


def test_a_child_ignoring_sigterm_is_killed() -> None:
    stubborn = [sys.executable, "-c",
                "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                " print('up', flush=True); time.sleep(60)"]
    supervisor = Supervisor([Child("stubborn", stubborn)], stop_wait=0.5)
    supervisor.start()
    _wait_for(lambda: supervisor.pid("stubborn") is not None)
    pid = supervisor.pid("stubborn")
    gevent.sleep(0.5)  # let it install its handler
    supervisor.stop()
    assert not _alive(pid)


def test_a_child_that_keeps_failing_waits_longer_each_time() -> None:
    supervisor = Supervisor([Child("false", ["/bin/false"])], backoff=0.01, max_backoff=0.04)
    supervisor.start()
    try:
        _wait_for(lambda: supervisor._running[0].restarts >= 4)
    finally:
        supervisor.stop()
    assert supervisor._running[0].delay == 0.04  # doubled, capped at max_backoff


def test_gateway_children_from_the_gateways_table() -> None:
    children = gateway_children({"xmpp": {"component": "sip.example.com"},
                                 "sms": {"enabled": False}})
    assert [c.name for c in children] == ["gateway xmpp"]
    assert children[0].argv[1:] == ["-m", "geosip.gateways.xmpp", "--config",
                                    '{"component": "sip.example.com"}']
