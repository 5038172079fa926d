"""$uac_req(key): the request being prepared for KSR.uac.uac_req_send (Kamailio's
uac_send.c keeps one such request per process; so does geosip: `CURRENT`).

Keys (Kamailio's): method ruri furi turi ouri hdrs body callid sock auser apasswd
evparam (strings), flags evroute evcode evtype (integers), and `all`, which reads as
`flags` and, set to $null, clears every key.

While the uac:reply event runs, $uac_req reads the snapshot of the request that got
the reply, with evcode (the reply's status) and evtype (1 a reply was received, 2 a
local timeout or send failure), kept in that event's context (`EVENT_KEY` in
ctx.script.extra): an event never overwrites what a route is preparing meanwhile.
The script layer (geosip/script/pv.py) checks the value types; nothing here blocks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

STR_KEYS = ("method", "ruri", "furi", "turi", "ouri", "hdrs", "body", "callid", "sock",
            "auser", "apasswd", "evparam")
INT_KEYS = ("flags", "evroute", "evcode", "evtype")
KEYS = frozenset((*STR_KEYS, *INT_KEYS, "all"))
EVENT_KEY = "uac:req"   # ctx.script.extra of the uac:reply event: its UacReq

EVTYPE_REPLY = 1        # Kamailio's evtype: a reply was received
EVTYPE_LOCAL = 2        # ... or tm made one (timeout, no route)


@dataclass(slots=True)
class UacReq:
    method: str | None = None
    ruri: str | None = None
    furi: str | None = None
    turi: str | None = None
    ouri: str | None = None
    hdrs: str | None = None
    body: str | None = None
    callid: str | None = None
    sock: str | None = None
    auser: str | None = None
    apasswd: str | None = None
    evparam: str | None = None
    flags: int = 0
    evroute: int = 0
    evcode: int = 0
    evtype: int = 0

    def copy(self) -> "UacReq":
        return dataclasses.replace(self)


CURRENT = UacReq()


def reset() -> None:
    """Clear the request being prepared (module init/destroy, $uac_req(all) = $null)."""
    set_field(None, "all", None)


def of(ctx: "RequestContext | None") -> UacReq:
    """The $uac_req that ctx sees: the event's snapshot, else the process's."""
    if ctx is not None:
        snapshot = ctx.script.extra.get(EVENT_KEY)
        if isinstance(snapshot, UacReq):
            return snapshot
    return CURRENT


def get_field(ctx: "RequestContext | None", key: str) -> str | int | None:
    """$uac_req(key): strings read $null while unset (or empty), integers 0."""
    req = of(ctx)
    if key == "all":
        return req.flags
    value = getattr(req, key)
    if isinstance(value, str) and not value:
        return None
    return value  # type: ignore[no-any-return]


def set_field(ctx: "RequestContext | None", key: str, value: str | int | None) -> None:
    """$uac_req(key) = value (None: $null). The caller checked the type: str for
    STR_KEYS, int for INT_KEYS. `all` only takes $null (clears every key), as in
    Kamailio, where any other value is ignored."""
    req = of(ctx)
    if key == "all":
        if value is None:
            for field in dataclasses.fields(req):
                setattr(req, field.name, field.default)
        return
    if value is None:
        value = 0 if key in INT_KEYS else None
    setattr(req, key, value)


__all__ = ["CURRENT", "EVENT_KEY", "EVTYPE_LOCAL", "EVTYPE_REPLY", "INT_KEYS", "KEYS",
           "STR_KEYS", "UacReq", "get_field", "of", "reset", "set_field"]
