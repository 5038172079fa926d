"""nathelper's exports (STYLE.md item 4): KSR.nathelper (functions.py), the keepalive
pings (ping.py) and nathelper.enable_ping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param, RpcCommand

from . import api, functions, ping

PARAMS = (
    Param("received_avp", "$avp(RECEIVED)", "AVP fix_nated_register stores the source "
          "URI in; registrar's received_avp must name the same one (Kamailio's default "
          "is none; geosip's both default to $avp(RECEIVED))"),
    Param("nat_addr_mode", 1, "1: 192.0.0.0/24 counts as private too, 0: only RFC 1918, "
          "RFC 6598 and 192.0.0.0/29"),
    Param("natping_interval", 0, "seconds between keepalive pings (0: none)"),
    Param("ping_nated_only", 0, "1: ping only bindings with a received address (NATed)"),
    Param("sipping_from", "", "From URI of SIP pings; empty: 4-byte UDP pings instead"),
    Param("sipping_method", "OPTIONS", "method of SIP pings"),
    Param("nortpproxy_str", "a=nortpproxy:yes", "SDP line fix_nated_sdp flag 4 adds"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams; ValueError for a negative natping_interval or a bad mode."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if float(settings["natping_interval"]) < 0:
        raise ValueError("nathelper.natping_interval must be >= 0")
    if settings["nat_addr_mode"] not in (0, 1):
        raise ValueError("nathelper.nat_addr_mode must be 0 or 1")
    api.SETTINGS.clear()
    api.SETTINGS.update(settings)


def enable_ping(value: Any) -> dict[str, int]:
    """Turn the keepalive pings on (non-zero) or off (0)."""
    ping.STATE["enabled"] = 1 if int(value) else 0
    return {"enabled": ping.STATE["enabled"]}


init()

EXPORTS = ModuleExports(
    name="nathelper",
    ksr=functions.FUNCTIONS,
    params=PARAMS,
    rpc=(RpcCommand("nathelper.enable_ping", enable_ping, "value",
                    "Turn the keepalive pings on (non-zero) or off (0).", context=False),),
    init=init,
    start=ping.start,
    destroy=ping.destroy,
    doc="NAT traversal helpers: NAT detection, Contact alias, received, SDP fixes, "
        "keepalive pings (Kamailio's nathelper).",
)
