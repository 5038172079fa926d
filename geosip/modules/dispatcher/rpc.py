"""dispatcher's RPC commands, as plain functions of their parameters (geosip/rpc
serves them under Kamailio's names, dispatcher.list..., and the short ds.* ones).

Results have kamcmd's shape (Kamailio's dispatcher.c RPC): dispatcher.list gives
{NRSETS, RECORDS: [{SET: {ID, TARGETS: [{DEST: {URI, FLAGS, PRIORITY, ATTRS...}}]}}]},
FLAGS two letters (AP, IP, TX, DX...: state.flags_text). Errors: ValueError (a bad
parameter, a reload refused) and LookupError (no such destination), which the RPC
layer answers as Kamailio's faults.
"""

from __future__ import annotations

import time
from typing import Any

from .destinations import Destination
from .state import flags_text, mark, parse_state
from .store import STORE


def _dest(dest: Destination, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"URI": dest.uri, "FLAGS": flags_text(dest.flags),
                           "PRIORITY": dest.priority}
    if full:
        out["HOST"] = dest.parsed.host
        out["PORT"] = dest.parsed.port or 5060
        out["IPADDR"] = ", ".join(ip for _, ip, _ in dest.addresses)
    attrs = dest.attrs
    if attrs.body:
        out["ATTRS"] = {"BODY": attrs.body, "DUID": attrs.duid, "MAXLOAD": attrs.maxload,
                        "WEIGHT": attrs.weight, "RWEIGHT": attrs.rweight,
                        "SOCKET": attrs.socket, "OBPROXY": attrs.obproxy}
    if dest.description:
        out["DESCRIPTION"] = dest.description
    if STORE.settings.latency_stats:
        lat = dest.latency
        out["LATENCY"] = {"AVG": round(lat.average, 3), "STD": round(lat.stdev, 3),
                          "EST": round(lat.estimate, 3), "MAX": lat.max,
                          "TIMEOUT": lat.timeout}
    out["RUNTIME"] = {"DLGLOAD": STORE.load_of(dest)}
    return out


def ds_list(mode: str = "") -> dict[str, Any]:
    """The sets and their destinations with their state (mode "full": and addresses)."""
    full = str(mode).lower() == "full"
    records = [{"SET": {"ID": setid,
                        "TARGETS": [{"DEST": _dest(d, full)} for d in dset.dests]}}
               for setid, dset in sorted(STORE.sets.items())]
    return {"NRSETS": len(records), "RECORDS": records}


def ds_reload() -> str:
    """Read the list file (or table) again; destinations that stay keep their state.
    Refused within reload_delta seconds of the last reload (Kamailio's rate limit)."""
    delta = STORE.settings.reload_delta
    if delta and time.monotonic() - STORE.last_reload < delta:
        raise ValueError("Ongoing reload")
    STORE.load()
    return "Ok. Dispatcher successfully reloaded."


def ds_set_state(state: str, group: int, address: str) -> str:
    """state a/i/t/d (+p), the set, and a destination URI or "all"."""
    flags = parse_state(str(state))
    if flags is None:
        raise ValueError("Unknown State Value")
    dset = STORE.sets.get(int(group))
    if dset is None:
        raise LookupError(f"no destination set {group}")
    targets = dset.dests if address == "all" else \
        [d for d in dset.dests if d.uri == address]
    if not targets:
        raise LookupError(f"no destination {address} in set {group}")
    for dest in targets:
        STORE.announce(dest, mark(dest, flags, STORE.settings.thresholds))
    return "Ok. Dispatcher state updated."


def ds_ping_active(state: int | None = None) -> dict[str, int]:
    """Without a parameter: whether keepalives are sent (1) or not (0); with 0 or 1:
    set it."""
    old = int(STORE.ping_active)
    if state is None:
        return {"OldPingState": old}
    if int(state) not in (0, 1):
        raise ValueError("Ping State Update Failed")
    STORE.ping_active = bool(int(state))
    return {"NewPingState": int(state), "OldPingState": old}


__all__ = ["ds_list", "ds_ping_active", "ds_reload", "ds_set_state"]
