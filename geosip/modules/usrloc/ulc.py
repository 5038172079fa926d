"""$ulc(exp=>attr): the binding whose expiry runs the usrloc:contact-expired event, as
Kamailio's registrar exposes it (its $ulc PV, profile "exp"). Only the "exp" profile
exists here (reg_fetch_contacts is not implemented); elsewhere $ulc reads $null.

attr: aor, domain (the table), addr (the Contact URI), path, received, expires
(absolute, seconds since the epoch; 0 permanent), callid, q (-1 unspecified), cseq,
flags, cflags, user_agent, socket, modified, methods (Kamailio's bit mask), ruid,
reg-id, instance, count (1).

geosip.script.pv has no public way yet for a module to add a PV class, so this adds
"ulc" to its table of classes when usrloc is imported (a Kamailio script that names
$ulc loads registrar/usrloc anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from geosip.script import pv

from .location import Contact
from .store import method_mask
from .tables import ULC_EXP

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

_ATTRS: dict[str, Callable[[str, Contact], Any]] = {
    "aor": lambda t, c: c.aor,
    "domain": lambda t, c: t,
    "addr": lambda t, c: c.contact,
    "path": lambda t, c: ",".join(f"<{p}>" for p in c.path) or None,
    "received": lambda t, c: c.received,
    "expires": lambda t, c: int(c.expires),
    "callid": lambda t, c: c.callid,
    "q": lambda t, c: int(c.q * 1000) if c.q >= 0 else -1,
    "cseq": lambda t, c: c.cseq,
    "flags": lambda t, c: c.flags,
    "cflags": lambda t, c: 0,
    "user_agent": lambda t, c: c.user_agent,
    "socket": lambda t, c: c.socket or None,
    "modified": lambda t, c: int(c.last_modified),
    "methods": lambda t, c: method_mask(c.methods) if c.methods is not None else 0xFFFFFFFF,
    "ruid": lambda t, c: c.ruid,
    "reg-id": lambda t, c: c.reg_id,
    "instance": lambda t, c: c.instance,
    "count": lambda t, c: 1,
}


def _ulc(arg: str, index: Any, label: str) -> pv.Pv:
    profile, sep, attr = arg.partition("=>")
    if not sep or attr not in _ATTRS:
        raise pv.PvError(f"unknown pseudo-variable {label}: $ulc(exp=>attr), attr one of "
                         + ", ".join(_ATTRS))
    read = _ATTRS[attr]

    def get(ctx: "RequestContext") -> Any:
        if profile != "exp":
            return None
        found = ctx.script.extra.get(ULC_EXP)
        return read(*found) if isinstance(found, tuple) else None
    return pv.Pv(label, get)


pv.register("ulc", _ulc)
