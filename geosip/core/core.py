"""The pipeline: receive -> parse -> match -> route -> send (DESIGN.md, core/).

Contract. The transport layer calls `on_message` inline in its reader greenlet; it
never blocks here. Bad bytes are answered with the ParseError's status when a
response can be addressed (a request with From, To, Call-ID and CSeq), else dropped;
both are counted (core:bad_msg_hdr). A request that matches a transaction goes to it
(retransmission, non-2xx ACK, CANCEL); a new request gets a greenlet of its own that
runs the router and then, if the route created a transaction, serves it. A response
goes to the branch it answers, or, with no transaction, is forwarded statelessly to
the next Via when the top Via is ours (RFC 3261 §16.7 step 9, §16.11), else dropped.
Nothing a peer sends raises out of here.
"""

from __future__ import annotations

import hashlib
import logging

from typing import Callable, Protocol

import gevent

from geosip.sip import Message, ParseError, Request, Response, parse
from geosip.sip.txn.keys import cancelled_invite_key, client_key, server_key
from geosip.tm.manager import Tm, TmConfig
from geosip.transport.base import Endpoint, Inbound, Listener, SendError

from .context import RequestContext
from .resolve import ResolveError, resolve
from .router import Router
from .routing import Myself, add_record_route, next_hop
from .stats import Stats
from .via import (DEFAULT_PORTS, our_via, reply_destination, response_destination, stamp_received,
                  stateless_branch, via_proto)

log = logging.getLogger("geosip.core")

# Every new request gets a greenlet of its own. By default gevent records, for each
# greenlet spawned, the spawning greenlet and a copy of the spawning stack: a debugging
# aid nothing in geosip reads, and 3 % of a proxied call's instructions
# (bench/core_calls.py under valgrind). Process-wide, like every gevent setting.
gevent.config.track_greenlet_tree = False

# Kamailio's faked request for event routes (core/fmsg.c).
_FAKED_REQUEST = (b"OPTIONS sip:you@kamailio.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n"
                  b"From: <sip:you@kamailio.org>;tag=notag\r\n"
                  b"To: <sip:you@kamailio.org>;tag=notag\r\nCall-ID: 0\r\n"
                  b"Max-Forwards: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
_LOOPBACK = Listener(Endpoint("udp", "127.0.0.1", 5060))

# Headers a stateless error reply needs from a request that failed to parse.
_ADDRESSING = ("from", "to", "call-id", "cseq")


class Core:
    def __init__(self, router: Router, myself: Myself, stats: Stats | None = None,
                 accept_aliases: bool = False) -> None:
        self.router = router
        # RFC 5923: reuse a connection for requests to the Via sent-by that asked with
        # ';alias'. Off by default, as Kamailio's tcp_accept_aliases: a peer could claim
        # any address.
        self.accept_aliases = accept_aliases
        self.myself = myself
        self.stats = stats or Stats()
        self.transport: Sender = _NoTransport()  # the runner sets the real one
        # Which of `geosip run --workers N` this process is (None: the only one). A
        # module whose timer works on shared data (msilo's deliveries from the silo
        # table) runs it in one worker only.
        self.worker: int | None = None
        self.tm = Tm(self, TmConfig())
        # hook(ctx) for every new request before it is routed (not retransmissions):
        # what Kamailio's modules get from rr/script callbacks, e.g. dialog matching
        # in-dialog requests. They must not block; a failing hook is logged.
        self.request_hooks: list[Callable[[RequestContext], None]] = []

    # ---- receiving -------------------------------------------------------------------

    def on_message(self, inbound: Inbound) -> None:
        """Entry point from the transports (inline: must not block)."""
        try:
            msg = parse(inbound.data)
        except ParseError as exc:
            self._bad_message(exc, inbound)
            return
        try:
            if isinstance(msg, Request):
                self._on_request(msg, inbound)
            elif isinstance(msg, Response):
                self._on_response(msg, inbound)
        except ParseError as exc:  # a header read on the way was malformed
            if isinstance(msg, Request) and msg.method != "ACK":
                self._bad_message(exc, inbound)
            else:
                self.stats.inc("core:bad_msg_hdr")
        except Exception:
            log.exception("unexpected error on %s from %s", msg, inbound.source)

    def _on_request(self, msg: Request, inbound: Inbound) -> None:
        stats = self.stats
        stats.inc("core:rcv_requests")
        stats.inc(f"core:rcv_requests_{msg.method.lower()}")
        stamp_received(msg, inbound.source)
        if self.accept_aliases and inbound.conn_id is not None:
            self._alias(msg, inbound, inbound.conn_id)
        servers = self.tm.servers
        method = msg.method
        if method == "ACK":
            cell = servers.get(server_key(msg))
            if cell is not None:  # ACK for a non-2xx: absorbed hop by hop (§17.2.1)
                cell.post(("request", msg, True))
                return
        elif method == "CANCEL":
            cell = servers.get(cancelled_invite_key(msg))
            if cell is not None:  # §16.10: 200 to the CANCEL, then cancel the branches
                self.reply_stateless(msg, inbound, 200, None, None)
                cell.post(("cancel",))
                return
        else:
            cell = servers.get(server_key(msg))
            if cell is not None:  # a retransmission
                cell.post(("request", msg, False))
                return
        gevent.spawn(self._route, msg, inbound)

    def _alias(self, msg: Request, inbound: Inbound, conn_id: int) -> None:
        via = msg.top_via
        if via.params.has("alias"):
            source = inbound.source
            port = via.port or DEFAULT_PORTS.get(source.proto, 5060)
            self.transport.add_alias(conn_id, Endpoint(source.proto, source.host, port))

    def _route(self, msg: Request, inbound: Inbound) -> None:
        """The greenlet of a new request: run the router, then serve the transaction."""
        ctx = RequestContext(self, msg, inbound)
        for hook in self.request_hooks:
            try:
                hook(ctx)
            except Exception:
                log.exception("request hook failed for %s from %s", msg, inbound.source)
        try:
            self.router.request(ctx)
        except ParseError as exc:
            # A header the route read is malformed: answer as for a request that failed
            # to parse (the reply cannot be built from the message's own parsed headers).
            log.info("bad %s from %s: %s", msg.method, inbound.source, exc.reason)
            if not ctx.replied and ctx.cell is None and msg.method != "ACK":
                exc.fields = list(msg.fields)
                self._bad_message(exc, inbound)
            elif ctx.cell is not None and not ctx.cell.final_sent:
                try:
                    ctx.cell.reply(exc.status)
                except ParseError:  # the reply needs the very header that is broken
                    log.info("cannot answer %s: %s", msg, exc.reason)
        except Exception:
            log.exception("route failed for %s from %s", msg, inbound.source)
            if not ctx.replied and msg.method != "ACK":
                ctx.reply(500, "Server Internal Error")
        if ctx.cell is not None:
            ctx.cell.serve()

    # ---- events (Kamailio's event_route) ----------------------------------------------

    def local_context(self, msg: Request | None = None) -> RequestContext:
        """A context for a route that no request started (an event, a timer): on `msg`,
        else on Kamailio's faked request (OPTIONS sip:you@kamailio.org), as if it came
        from our first listener."""
        if msg is None:
            parsed = parse(_FAKED_REQUEST)
            assert isinstance(parsed, Request)
            msg = parsed
        listeners = self.myself.listeners
        listener = listeners[0] if listeners else _LOOPBACK
        return RequestContext(self, msg, Inbound(msg.to_bytes(), listener.local, listener))

    def run_event(self, fname: str, evname: str, ctx: RequestContext | None = None) -> bool:
        """Run the script's event callback `fname(evname)` (a module's event_callback
        parameter) on `ctx`, else on a local context. Call it from a greenlet of your own
        (a timer, a module's worker), never from inside a KSR function. False when the
        router has no such callback."""
        if not fname:
            return False
        return self.router.event(fname, ctx or self.local_context(), evname)

    def route_ack_for_2xx(self, ack: Request, inbound: Inbound) -> None:
        """An ACK that matched an INVITE server transaction in "Accepted" (RFC 6026
        §8.7: passed to the TU): a proxy routes it like any new request."""
        gevent.spawn(self._route, ack, inbound)

    def _on_response(self, msg: Response, inbound: Inbound) -> None:
        stats = self.stats
        stats.inc("core:rcv_replies")
        stats.inc(f"core:rcv_replies_{msg.status // 100}xx")
        branch = self.tm.clients.get(client_key(msg))
        if branch is not None:
            branch.cell.post(("response", branch, msg))
            return
        self._forward_response(msg)

    def _bad_message(self, exc: ParseError, inbound: Inbound) -> None:
        """Answer what can be answered (RFC 3261 §8.2, §16.3), drop the rest."""
        self.stats.inc("core:bad_msg_hdr")
        data = inbound.data
        fields = exc.fields if isinstance(exc.fields, list) else []
        keys = {f.key for f in fields}
        is_request = not data.lstrip(b"\r\n").startswith(b"SIP/")
        cseq = next((f.value for f in fields if f.key == "cseq"), "")
        if not is_request or not all(k in keys for k in _ADDRESSING) or cseq.endswith("ACK"):
            log.debug("dropped unparsable message from %s: %s", inbound.source, exc.reason)
            self.stats.inc("core:drop_requests" if is_request else "core:drop_replies")
            return
        copied = [(f.name, f.value) for f in fields if f.key in ("via", *_ADDRESSING)]
        response = Response(exc.status, None, copied)
        response.add_header("Warning", f'399 geosip "{_warning_text(exc.reason)}"')
        response.add_header("Content-Length", "0")
        log.info("answered %d to a bad request from %s: %s", exc.status, inbound.source,
                 exc.reason)
        self._send(response, inbound.source, inbound.conn_id, inbound.listener)
        self.stats.inc("core:err_requests")

    # ---- sending ---------------------------------------------------------------------

    def stamp_source(self, msg: Request, inbound: Inbound) -> None:
        stamp_received(msg, inbound.source)

    def reply_stateless(self, request: Request, inbound: Inbound, status: int,
                        reason: str | None, headers: list[tuple[str, str]] | None) -> bool:
        """sl_send_reply: answer without a transaction; the To tag is derived from the
        request so a retransmission gets the same one."""
        if request.method == "ACK":
            return False
        tag = hashlib.md5(str(server_key(request)).encode("utf-8", "surrogateescape"),
                          usedforsecurity=False).hexdigest()[:16]
        response = request.make_response(status, reason, to_tag=tag)
        for name, value in headers or ():
            response.add_header(name, value)
        self.stats.inc(f"sl:{status // 100}xx_replies")
        return self.send_response(response, inbound)

    def send_response(self, response: Message, inbound: Inbound,
                      dest: Endpoint | None = None) -> bool:
        """Send a response to a request that came in on `inbound`, to `dest` when the
        caller knows it (see reply_destination), else as reply_destination says."""
        if dest is None:
            dest = reply_destination(response.top_via, inbound)
        return self._send(response, dest, inbound.conn_id, inbound.listener)

    def _send(self, msg: Message, dest: Endpoint, conn_id: int | None,
              listener: Listener | None) -> bool:
        try:
            self.transport.send(msg.to_bytes(), dest, conn_id=conn_id, listener=listener)
        except SendError as exc:
            log.info("cannot send %s to %s: %s", msg, dest, exc)
            return False
        return True

    def destination(self, request: Request,
                    dst_uri: str | None) -> tuple[Endpoint, Listener] | None:
        """Next hop of a request and the socket to send it from; None when there is no
        route (unresolvable, or no listener for its transport)."""
        try:
            uri, _ = next_hop(request, dst_uri)
            endpoints = resolve(uri)
        except (ResolveError, ParseError) as exc:
            log.info("no destination for %s: %s", request, exc)
            return None
        for endpoint in endpoints:
            listener = self.transport.listener_for(endpoint.proto, endpoint.ipv6)
            if listener is not None:
                return endpoint, listener
        log.info("no listener for %s (%s)", request, ", ".join(map(str, endpoints)))
        return None

    def record_route(self, ctx: RequestContext, request: Request, outbound: Listener) -> None:
        """Our Record-Route in `request` (a copy of ctx's leaving on `outbound`), with
        the parameters or preset values the script asked for (rr)."""
        add_record_route(request, ctx.inbound.listener, outbound, ctx.record_route_params,
                         ctx.record_route_preset)

    def send_socket(self, ctx: RequestContext, dest: Endpoint, listener: Listener) -> Listener:
        """The socket a request of ctx goes out from: the one the script forced
        (set_send_socket, $fs) when it can reach `dest` (same transport and address
        family, as Kamailio checks), else the one `destination` chose."""
        forced = ctx.send_socket
        if forced is None or forced is listener:
            return listener
        if forced.proto != dest.proto or forced.local.ipv6 != dest.ipv6:
            log.info("forced socket %s cannot send to %s: using %s", forced.local, dest,
                     listener.local)
            return listener
        return forced

    def forward(self, ctx: RequestContext) -> bool:
        """forward(): stateless forwarding of the request (RFC 3261 §16.11). False when
        there is no route, the send fails, or onsend_route dropped it."""
        request = ctx.msg
        found = self.destination(request, ctx.dst_uri)
        if found is None:
            return False
        dest, listener = found
        listener = self.send_socket(ctx, dest, listener)
        out = request.copy()
        assert isinstance(out, Request)
        if ctx.record_route_wanted:
            self.record_route(ctx, out, listener)
        out.prepend_value("Via", our_via(listener, stateless_branch(request)))
        if not ctx.may_send(out, dest, listener):
            log.info("%s to %s: dropped by onsend_route", request, dest)
            return False
        if not self._send(out, dest, None, listener):
            return False
        self.stats.inc("core:fwd_requests")
        return True

    def _forward_response(self, response: Response) -> None:
        """A response without a transaction: ours to pass back if our Via is on top."""
        via = response.top_via
        if not self.myself.is_local(via.host, via.port, via_proto(via)):
            self.stats.inc("core:drop_replies")
            return
        response.pop_value("Via")
        if not response.has("via"):
            self.stats.inc("core:drop_replies")  # it was for us (e.g. a keep-alive reply)
            return
        dest = response_destination(response.top_via)
        if dest is None:
            self.stats.inc("core:drop_replies")
            return
        listener = self.transport.listener_for(dest.proto, dest.ipv6)
        if self._send(response, dest, None, listener):
            self.stats.inc("core:fwd_replies")


def _warning_text(reason: str) -> str:
    return reason.replace("\\", "").replace('"', "'")[:120]


class Sender(Protocol):
    """The part of the transport layer the core uses (geosip.transport TransportLayer)."""

    def send(self, data: bytes, dest: Endpoint, *, conn_id: int | None = None,
             listener: Listener | None = None) -> None: ...

    def listener_for(self, proto: str, ipv6: bool) -> Listener | None: ...

    def add_alias(self, conn_id: int, endpoint: Endpoint) -> bool: ...


class _NoTransport:
    """Until the runner attaches the transports: every send fails cleanly."""

    def send(self, data: bytes, dest: Endpoint, *, conn_id: int | None = None,
             listener: Listener | None = None) -> None:
        raise SendError("no transport attached")

    def listener_for(self, proto: str, ipv6: bool) -> Listener | None:
        return None

    def add_alias(self, conn_id: int, endpoint: Endpoint) -> bool:
        return False
