"""Keepalives (Kamailio's ds_check_timer and ds_options_callback, README §3.19-3.26).

Every ds_ping_interval seconds, while pinging is active (dispatcher.ping_active),
each destination that ds_probing_mode says is due gets a ds_ping_method request
(OPTIONS) in a transaction of its own (core.tm.send_local): R-URI and To the
destination, From ds_ping_from or its ping_from attribute, sent to its obproxy
attribute or the outbound_proxy parameter when set. Its final response, or the local
408 (timeout) or 503 (no route, send failure) tm makes, is judged by
ds_ping_reply_codes and fed to the state machine (state.probe_result); a change of
selectability runs dispatcher:dst-down/up with the probe as the event's request.
With ds_ping_latency_stats the round trip of each answered probe updates the
destination's latency (algorithm 13, dispatcher.list LATENCY).

Due: disabled destinations never; mode 1 every other; mode 2 the INACTIVE and
PROBING ones; modes 0 and 3 the PROBING ones.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from geosip.sip import Response
from geosip.sip.outgoing import new_request

from .destinations import DISABLED, INACTIVE, PROBING, Destination
from .state import PROBE_ALL, PROBE_INACTIVE, probe_result
from .store import STORE

log = logging.getLogger("geosip.dispatcher")

LOAD_SWEEP = 30.0  # Kamailio's ds_hash_check_interval default, seconds


def due(dest: Destination, mode: int) -> bool:
    flags = dest.flags
    if flags & DISABLED:
        return False
    if mode == PROBE_ALL:
        return True
    if mode == PROBE_INACTIVE:
        return bool(flags & INACTIVE and flags & PROBING)
    return bool(flags & PROBING)


def send_probe(core: Any, dest: Destination) -> Any:
    """One keepalive to `dest`; returns its LocalTransaction (None if it cannot be
    built: the destination counts as failed)."""
    settings = STORE.settings
    try:
        request = new_request(settings.ping_method, dest.uri,
                              dest.attrs.ping_from or settings.ping_from, dest.uri)
    except ValueError as exc:
        log.error("dispatcher: cannot probe %s: %s", dest.uri, exc)
        on_result(dest, 503, None, None)
        return None
    started = time.monotonic()

    def on_final(response: Response) -> None:
        on_result(dest, response.status, time.monotonic() - started, request)

    return core.tm.send_local(request, dest.attrs.obproxy or settings.outbound_proxy or None,
                              on_final)


def on_result(dest: Destination, status: int, seconds: float | None, request: Any) -> None:
    """A probe's final status (inline in the reader or the scheduler: must not block)."""
    settings = STORE.settings
    live = STORE.find(dest.setid, dest.uri) or dest  # a reload may have replaced it
    if settings.latency_stats and seconds is not None:
        if status == 408:
            live.latency.timeout += 1
        else:
            live.latency.add(seconds * 1000, settings.alpha)
    ok = settings.reply_codes.accepts(status)
    if not ok:
        log.debug("dispatcher: probe of %s answered %d", live.uri, status)
    STORE.announce(live, probe_result(live, ok, settings.thresholds), request)


def ping_once(core: Any) -> list[Any]:
    """Probe every due destination now; their transactions."""
    if not STORE.ping_active:
        return []
    mode = STORE.settings.thresholds.mode
    return [send_probe(core, dest) for dset in list(STORE.sets.values())
            for dest in dset.dests if due(dest, mode)]


def _pinger(core: Any, interval: float) -> None:
    while True:
        gevent.sleep(interval)
        try:
            ping_once(core)
        except Exception:  # the loop must outlive one bad round
            log.exception("dispatcher: probing failed")


def _sweeper() -> None:
    while True:
        gevent.sleep(LOAD_SWEEP)
        STORE.loads.sweep()


def start(core: Any) -> None:
    """Spawn the pinger (when ds_ping_interval > 0) and the call load sweep."""
    STORE.core = core
    interval = STORE.settings.ping_interval
    if interval > 0:
        STORE.workers.append(gevent.spawn(_pinger, core, interval))
    STORE.workers.append(gevent.spawn(_sweeper))


__all__ = ["due", "on_result", "ping_once", "send_probe", "start"]
