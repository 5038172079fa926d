"""KSR.registrar.lookup and friends: where a request for a registered AOR goes.

Contract: lookup rewrites the Request-URI to the highest-q live binding of the AOR
(ties: the most recently registered first) and appends every other binding as a
branch, each with its q-value (tm's set_q: t_relay forks in parallel, t_load_contacts
serially) and its destination: the first Path hop (RFC 3327 §5.4: only that hop is
used here), else the NAT `received` address. With method_filtering 1 a binding whose
Allow/methods do not include the request's method is skipped.
Return codes (Kamailio's): 1 found, -1 not found, -2 found but no binding allows the
method (the script answers 405), -3 internal error (bad AOR URI).
These functions are blocking (they run outside Lua): in usrloc db_mode 3 they query
the database, and in mode 1 unregister writes to it. A database that fails raises
usrloc's DatabaseError: the route fails and the request gets 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from geosip.modules.tm import api as tm
from geosip.modules.usrloc import api as ul
from geosip.sip import parse_uri
from geosip.sip.errors import ParseError
from geosip.script.exports import ksr

from .aor import SETTINGS, aor_key

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.registrar")

FOUND, NOT_FOUND, METHOD_NOT_ALLOWED, ERROR = 1, -1, -2, -3


def _destination(binding: ul.Contact) -> str | None:
    if binding.path:
        return binding.path[0]
    return binding.received


def _lookup(ctx: "RequestContext", table: str, uri: object) -> int:
    aor = aor_key(uri)
    if aor is None:
        log.error("registrar: no AOR in %s", uri)
        return ERROR
    found = ul.table(table).lookup(aor)
    if not found:
        return NOT_FOUND
    if SETTINGS["method_filtering"]:
        method = ctx.msg.method
        found = [c for c in found if c.methods is None or method in c.methods]
        if not found:
            return METHOD_NOT_ALLOWED
    first, *others = found
    try:
        ctx.msg.uri = parse_uri(first.contact)
    except (ParseError, ValueError) as exc:
        log.error("registrar: stored contact %r unusable: %s", first.contact, exc)
        return ERROR
    ctx.dst_uri = _destination(first)
    tm.set_q(ctx, None, None if first.q < 0 else first.q)
    if SETTINGS["append_branches"]:
        for binding in others:
            ctx.append_branch(binding.contact, _destination(binding))
            tm.set_q(ctx, binding.contact, None if binding.q < 0 else binding.q)
    return FOUND


@ksr("lookup", "s", blocking=True,
     returns="1 found, -1 not found, -2 found but the method is not allowed (answer "
             "405), -3 internal error")
def lookup(ctx: "RequestContext", table: str) -> int:
    """Route to the bindings of the Request-URI's AOR in `table`: the R-URI becomes
    the highest-q contact, the others are appended as branches."""
    return _lookup(ctx, table, ctx.msg.uri)


@ksr("lookup_uri", "ss", blocking=True, returns="as lookup")
def lookup_uri(ctx: "RequestContext", table: str, uri: str) -> int:
    """lookup() for the AOR of `uri` instead of the Request-URI's."""
    return _lookup(ctx, table, uri)


@ksr("registered", "s", blocking=True,
     returns="1 the R-URI's AOR has a live binding, -1 not")
def registered(ctx: "RequestContext", table: str) -> int:
    """Whether the Request-URI's AOR is registered in `table`."""
    aor = aor_key(ctx.msg.uri)
    return 1 if aor is not None and ul.table(table).lookup(aor) else -1


@ksr("unregister", "ss", blocking=True, returns="1 bindings removed, -1 none or a bad URI")
def unregister(ctx: "RequestContext", table: str, uri: str) -> int:
    """Remove every binding of the AOR of `uri` from `table`."""
    aor = aor_key(uri)
    if aor is None:
        return -1
    return 1 if ul.table(table).delete(aor) else -1


FUNCTIONS = (lookup, lookup_uri, registered, unregister)
