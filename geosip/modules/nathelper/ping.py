"""nathelper's keepalives (Kamailio's natping_interval): every natping_interval
seconds each UDP binding of usrloc's "location" table gets a packet at its received
address (else its contact), so the NAT in front of the phone keeps the mapping open.
With sipping_from set the packet is a SIP request (sipping_method, OPTIONS by
default) sent through a client transaction of its own (core.tm.send_local; its answer
is only logged); otherwise the 4 zero bytes Kamailio sends.

geosip's usrloc keeps no branch flags, so the NATed bindings (ping_nated_only) are the
ones with a received address: what fix_nated_register (or registrar's own detection)
stored. Runs in a greenlet of its own; a database in usrloc db_mode 3 may make it wait.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import gevent

from geosip.core.resolve import ResolveError, resolve
from geosip.modules.usrloc import api as ul
from geosip.sip import ParseError, Response, SipUri, parse_uri
from geosip.sip.outgoing import new_request
from geosip.transport.base import SendError

from .api import SETTINGS

if TYPE_CHECKING:
    from geosip.core.core import Core

log = logging.getLogger("geosip.modules.nathelper")

UDP_PING = b"\x00\x00\x00\x00"
TABLE = "location"
STATE = {"enabled": 1}   # nathelper.enable_ping
_timer: list[gevent.Greenlet] = []


def targets() -> list[tuple[ul.Contact, str]]:
    """(binding, URI to ping) for every live UDP binding that gets a ping."""
    location = ul.table(TABLE)
    out = []
    for aor in location.aors():
        for binding in location.lookup(aor):
            if SETTINGS["ping_nated_only"] and not binding.received:
                continue
            dst = binding.received or binding.contact
            try:
                uri = parse_uri(dst)
            except (ParseError, ValueError):
                continue
            if isinstance(uri, SipUri) and (uri.transport or "udp") == "udp" \
                    and not uri.secure:
                out.append((binding, dst))
    return out


def ping_all(core: "Core") -> int:
    """One round of pings; returns how many went out."""
    sent = 0
    for binding, dst in targets():
        if SETTINGS["sipping_from"]:
            if _sip_ping(core, binding, dst):
                sent += 1
            continue
        try:
            [endpoint, *_] = resolve(parse_uri(dst))
            core.transport.send(UDP_PING, endpoint)
        except (ResolveError, SendError, ParseError, ValueError) as exc:
            log.info("nathelper: no ping to %s: %s", dst, exc)
            continue
        sent += 1
    return sent


def _sip_ping(core: "Core", binding: ul.Contact, dst: str) -> bool:
    try:
        request = new_request(str(SETTINGS["sipping_method"]), binding.contact,
                              str(SETTINGS["sipping_from"]))
    except ValueError as exc:
        log.info("nathelper: no ping to %s: %s", binding.contact, exc)
        return False

    def answered(response: Response) -> None:
        log.debug("nathelper: %s answered the ping %d", binding.contact, response.status)
    core.tm.send_local(request, dst_uri=dst if dst != binding.contact else None,
                       on_final=answered)
    return True


def _forever(core: "Core", interval: float) -> None:
    while True:
        gevent.sleep(interval)
        if not STATE["enabled"]:
            continue
        try:
            ping_all(core)
        except Exception:  # a database that fails: try again next round
            log.exception("nathelper: ping round failed")


def start(core: "Core") -> None:
    """Start the ping timer when natping_interval > 0."""
    interval = float(SETTINGS["natping_interval"])
    if interval > 0 and not _timer:
        _timer.append(gevent.spawn(_forever, core, interval))


def destroy() -> None:
    while _timer:
        _timer.pop().kill(block=False)
    STATE["enabled"] = 1
