"""What a route acts on: the request, where it came from, and the routing state a
Kamailio script keeps ($du, appended branches, record-route, the transaction and
the handlers armed on it). Routers (router.py, and the Lua engine later) call these
methods; each mirrors a Kamailio function and returns what it returns.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from geosip.sip import Request, Response, parse_uri
from geosip.transport.base import Endpoint, Listener

from .routing import loose_route
from .via import force_rport

if TYPE_CHECKING:
    from geosip.tm.cell import Cell
    from geosip.transport.base import Inbound

    from .core import Core

log = logging.getLogger("geosip.core")

FailureHandler = Callable[["RequestContext", Response], None]
ReplyHandler = Callable[["RequestContext", Response], bool]
# Kamailio's onsend_route: (ctx, request about to leave, destination, socket) -> False
# cancels that send (the branch fails as a send failure would).
SendHandler = Callable[["RequestContext", Request, Endpoint, Listener], bool]
# Transaction callbacks that modules (dialog, acc) put on a request, as Kamailio's
# tm register_tmcb: (kind, ctx, message). TMCB_RESPONSE_OUT: a response of the
# transaction went upstream (every one: provisionals, the final, 2xx repeats);
# TMCB_E2EACK_IN: the ACK for a 2xx reached the INVITE's transaction (RFC 6026). They
# run in the transaction's greenlet or inline in the reader: they must not block.
TmCallback = Callable[[str, "RequestContext", "Request | Response"], None]
TMCB_RESPONSE_OUT = "response_out"
TMCB_E2EACK_IN = "e2eack_in"


class ScriptState:
    """What a Kamailio script keeps per message: message flags (setflag), $var, $avp and
    $xavp values, the names of routes armed on the transaction (t_on_failure...), the
    reply being processed in a reply/failure route, and whether the message was dropped.
    A plain namespace: the script layer owns its contents."""

    __slots__ = ("flags", "branch_flags", "vars", "avps", "xavps", "on_failure",
                 "on_reply", "on_branch", "reply", "dropped", "extra")

    def __init__(self) -> None:
        self.flags = 0
        self.branch_flags = 0
        self.vars: dict[str, object] = {}
        self.avps: dict[str, list[object]] = {}
        self.xavps: dict[str, list[dict[str, object]]] = {}
        self.on_failure: str | None = None
        self.on_reply: str | None = None
        self.on_branch: str | None = None
        self.reply: Response | None = None  # the response a reply/failure route looks at
        self.dropped = False
        self.extra: dict[str, object] = {}


class RequestContext:
    __slots__ = ("core", "msg", "inbound", "cell", "dst_uri", "branches",
                 "record_route_wanted", "record_route_params", "record_route_preset",
                 "send_socket", "failure_handler", "reply_handler", "send_handler",
                 "replied", "script", "tm_callbacks")

    def __init__(self, core: "Core", msg: Request, inbound: "Inbound") -> None:
        self.core = core
        self.msg = msg
        self.inbound = inbound
        self.cell: Cell | None = None
        self.dst_uri: str | None = None          # $du: where to send instead of the R-URI
        self.branches: list[tuple[str, str | None]] = []  # append_branch: (uri, dst_uri)
        self.record_route_wanted = False
        self.record_route_params = ""  # after ";lr" in our Record-Route (rr's ftag...)
        self.record_route_preset: tuple[str, ...] = ()  # Record-Route values given whole
        self.send_socket: Listener | None = None  # force_send_socket / $fs
        self.failure_handler: FailureHandler | None = None  # t_on_failure
        self.reply_handler: ReplyHandler | None = None      # t_on_reply
        self.send_handler: SendHandler | None = None        # onsend_route
        self.replied = False
        self.script = ScriptState()
        self.tm_callbacks: list[TmCallback] | None = None  # add_tm_callback

    # ---- answering -------------------------------------------------------------------

    def reply(self, status: int, reason: str | None = None,
              headers: list[tuple[str, str]] | None = None) -> bool:
        """sl_send_reply / t_reply: statefully when the request has a transaction."""
        self.replied = True
        if self.cell is not None:
            return self.cell.reply(status, reason, headers)
        return self.core.reply_stateless(self.msg, self.inbound, status, reason, headers)

    # ---- forwarding ------------------------------------------------------------------

    def relay(self) -> bool:
        """t_relay(): forward statefully. False when nothing could be sent."""
        return self.core.tm.relay(self)

    def forward(self) -> bool:
        """forward(): forward statelessly (RFC 3261 §16.11)."""
        return self.core.forward(self)

    def targets(self) -> list[tuple[str, str | None]]:
        """The branches a relay creates: the Request-URI (with $du) and the appended ones."""
        return [(self.msg.uri_text, self.dst_uri), *self.branches]

    def append_branch(self, uri: str, dst_uri: str | None = None) -> None:
        self.branches.append((uri, dst_uri))

    def clear_branches(self) -> None:
        self.branches = []

    # ---- routing helpers -------------------------------------------------------------

    def record_route(self) -> None:
        """record_route(): every branch sent from now on carries our Record-Route."""
        self.record_route_wanted = True

    def loose_route(self) -> bool:
        """loose_route(): follow the Route set (RFC 3261 §16.4); True when it had one."""
        return loose_route(self.msg, self.core.myself)

    def process_maxfwd(self, limit: int = 70) -> bool:
        """maxfwd's mf_process_maxfwd_header: add Max-Forwards when missing, else
        decrement it; False when it is already 0 (the route answers 483)."""
        value = self.msg.max_forwards
        if value is None:
            self.msg.add_header("Max-Forwards", str(limit))
            return True
        if value == 0:
            return False
        self.msg.set_header("Max-Forwards", str(value - 1))
        return True

    def force_rport(self) -> None:
        force_rport(self.msg)
        self.core.stamp_source(self.msg, self.inbound)

    def is_myself(self, uri_text: str | None = None) -> bool:
        uri = self.msg.uri if uri_text is None else parse_uri(uri_text)
        return self.core.myself.is_myself(uri)

    # ---- transaction handlers --------------------------------------------------------

    def has_failure_handler(self) -> bool:
        return self.failure_handler is not None

    def run_failure(self, best: Response) -> None:
        """Run the armed failure handler once (Kamailio disarms it; the handler may arm
        it again for the next failover)."""
        handler, self.failure_handler = self.failure_handler, None
        if handler is None:
            return
        try:
            handler(self, best)
        except Exception:
            log.exception("failure handler of %s failed", self.msg)

    def may_send(self, request: Request, dest: Endpoint, listener: Listener) -> bool:
        """Run the send handler (onsend_route) for a request about to leave; False
        means do not send it. A failing handler lets the request go."""
        handler = self.send_handler
        if handler is None:
            return True
        try:
            return handler(self, request, dest, listener) is not False
        except Exception:
            log.exception("send handler of %s failed", self.msg)
            return True

    def run_reply_handler(self, response: Response) -> bool:
        """Run the armed reply handler; False means drop this response."""
        handler = self.reply_handler
        if handler is None:
            return True
        try:
            return handler(self, response) is not False
        except Exception:
            log.exception("reply handler of %s failed", self.msg)
            return True

    def add_tm_callback(self, callback: TmCallback) -> None:
        """Have the transaction of this request call `callback` (TmCallback above)."""
        if self.tm_callbacks is None:
            self.tm_callbacks = [callback]
        elif callback not in self.tm_callbacks:
            self.tm_callbacks.append(callback)

    def run_tm_callbacks(self, kind: str, message: "Request | Response") -> None:
        """Call the registered transaction callbacks; a failing one is logged."""
        for callback in self.tm_callbacks or ():
            try:
                callback(kind, self, message)
            except Exception:
                log.exception("transaction callback %s of %s failed", kind, self.msg)
