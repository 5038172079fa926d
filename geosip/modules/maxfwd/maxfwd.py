"""KSR.maxfwd: the Max-Forwards header (Kamailio's maxfwd module, maxfwd.c/mf_funcs.c).

Kamailio reads Max-Forwards as a number up to 65535 and caps it at the max_limit
parameter before decrementing (a request arriving with 255 leaves with 69 by default);
geosip's message layer would refuse a value over 255 (RFC 3261 §20.22), so the header is
read here the way Kamailio reads it.
"""

from __future__ import annotations

from typing import Any

from geosip.core.context import RequestContext
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import message

SETTINGS: dict[str, Any] = {"max_limit": 70}
_MISSING, _BAD = -1, -2


def _value(ctx: RequestContext) -> int:
    """The Max-Forwards value; -1 when absent, -2 when not a number (Kamailio's
    is_maxfwd_present)."""
    text = message(ctx).header("max-forwards")
    if text is None:
        return _MISSING
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5 or int(text) > 65535:
        return _BAD
    return int(text)


@ksr("process_maxfwd", "i", returns="1 decremented, 2 added (was missing), -1 it is 0 "
                                    "(answer 483) or limit not 0-255, -2 not a number")
def process_maxfwd(ctx: RequestContext, limit: int) -> int:
    """Decrement Max-Forwards (capped at the max_limit parameter first), or add it with
    `limit` when the request has none (RFC 3261 §16.6 item 3); -1 when it is already 0,
    so the script answers 483 Too Many Hops (§16.3 item 3)."""
    limit = int(limit)
    if not 0 <= limit <= 255:
        return -1
    value = _value(ctx)
    msg = message(ctx)
    if value == _MISSING:
        msg.add_header("Max-Forwards", str(limit), first=True)
        return 2
    if value == _BAD:
        return -2
    if value == 0:
        return -1
    cap = int(SETTINGS["max_limit"])
    if value > cap:
        value = cap + 1
    msg.set_header("Max-Forwards", str(value - 1))
    return 1


@ksr("is_maxfwd_lt", "i", returns="1 Max-Forwards < limit, -1 not (or bad limit), "
                                  "-2 no header, -3 not a number")
def is_maxfwd_lt(ctx: RequestContext, limit: int) -> int:
    """Whether Max-Forwards is lower than `limit`."""
    limit = int(limit)
    if not 0 <= limit <= 255:
        return -1
    value = _value(ctx)
    if value < 0:
        return value - 1
    return 1 if value < limit else -1
