"""sl's exports (STYLE.md item 4): KSR.sl, replies to the request being routed.

A reply is stateless (RFC 3261 §8.2.6, To tag derived from the request so a
retransmission gets the same one) unless the request has a transaction (t_newtran,
t_relay, t_suspend): then it goes through the transaction, which in geosip would
otherwise answer 500 itself when the route ends with nothing relayed. Headers added
with KSR.hdr.append_to_reply go into every reply. All of them send: `blocking`.
"""

from __future__ import annotations

from geosip.core.context import RequestContext
from geosip.modules.tm import api as tm
from geosip.script.exports import ModuleExports, ksr


@ksr("sl_send_reply", "is", blocking=True,
     returns="1 sent, -1 for an ACK, a bad status, or a final sent already")
def sl_send_reply(ctx: RequestContext, status: int, reason: str) -> bool:
    """Answer `status` `reason` (statelessly when the request has no transaction)."""
    return tm.reply(ctx, int(status), reason, stateful=False)


@ksr("send_reply", "is", blocking=True, returns="as sl_send_reply")
def send_reply(ctx: RequestContext, status: int, reason: str) -> bool:
    """Statefully when the request has a transaction, else statelessly."""
    return tm.reply(ctx, int(status), reason, stateful=False)


@ksr("sl_reply_error", blocking=True, returns="as sl_send_reply")
def sl_reply_error(ctx: RequestContext) -> bool:
    """Answer after an internal error: 500 Server Internal Error (geosip keeps no
    error code of the last failed function, unlike Kamailio's ser_error)."""
    return tm.reply(ctx, 500, "Server Internal Error", stateful=False)


EXPORTS = ModuleExports(
    name="sl",
    ksr=(sl_send_reply, send_reply, sl_reply_error),
    doc="Stateless replies.",
)
