"""A small SIP user agent on asyncio, UDP only: what a gateway needs to take MESSAGEs
from the core and to send MESSAGEs to it (DESIGN.md, Processes).

The transaction rules are not written again here: requests we send run in
geosip.sip.txn's ClientNonInvite (Timer E retransmits, Timer F gives up, RFC 3261
§17.1.2), requests we receive in ServerNonInvite (a retransmission gets the same answer
again and is not handed up twice, §17.2.2). This file only drives their actions with
asyncio timers and one datagram socket.

Receiving: `handler(request) -> Response` answers each new MESSAGE (called at once,
must not block). OPTIONS is answered 200 (a keepalive probe from the core); ACK is
dropped; any other method gets 405 with Allow (RFC 3261 §8.2.1). Unparsable datagrams
are dropped and logged.

Sending: `await ua.request(req, (host, port))` adds our Via and returns the final
response; a timeout is a local 408 and a send that fails a local 503 (§8.1.3.1).
Responses go back to the source address of the request (the core speaks from the
port it listens on, and sets rport, RFC 3581).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from geosip.sip import ParseError, Request, Response, parse
from geosip.sip.txn import (
    CancelTimer, ClientNonInvite, Send, ServerNonInvite, StartTimer, Terminated, TimedOut,
    Timer, TimerConfig, ToTU, TransportFailed)
from geosip.sip.txn.keys import client_key, server_key
from geosip.sip.via import MAGIC_COOKIE

log = logging.getLogger("geosip.gateways.sipua")

Handler = Callable[[Request], Response]
Address = tuple[str, int]
ALLOW = "MESSAGE, OPTIONS"


class _Txn:
    """A machine and where its messages go, its armed timers and (client) its future."""

    __slots__ = ("key", "machine", "peer", "timers", "future")

    def __init__(self, key: tuple[str, ...], machine: Any, peer: Address,
                 future: asyncio.Future[Response] | None = None) -> None:
        self.key = key
        self.machine = machine
        self.peer = peer
        self.timers: dict[Timer, asyncio.TimerHandle] = {}
        self.future = future


class SipUA(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler, *, timers: TimerConfig = TimerConfig(),
                 user_agent: str = "geosip-gateway") -> None:
        self.handler = handler
        self.timer_config = timers
        self.user_agent = user_agent
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("127.0.0.1", 0)
        self._txns: dict[tuple[str, ...], _Txn] = {}

    async def listen(self, host: str, port: int) -> None:
        """Bind the UDP socket; raises OSError when the port cannot be had."""
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local = transport.get_extra_info("sockname")[:2]

    def close(self) -> None:
        for txn in list(self._txns.values()):
            self._drop(txn)
        if self.transport is not None:
            self.transport.close()

    # ---- sending -----------------------------------------------------------------------

    async def request(self, request: Request, peer: Address) -> Response:
        """Send `request` (not INVITE/ACK/CANCEL) to `peer` in a client transaction and
        return its final response (a local 408 or 503 when none came)."""
        host, port = self.local
        branch = MAGIC_COOKIE + secrets.token_hex(8)
        request.add_header("Via", f"SIP/2.0/UDP {host}:{port};branch={branch};rport",
                           first=True)
        if not request.has("user-agent"):
            request.add_header("User-Agent", self.user_agent)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        txn = _Txn(client_key(request), ClientNonInvite(
            request, config=self.timer_config, reliable=False), peer, future)
        self._txns[txn.key] = txn
        self._run(txn, txn.machine.start(self._now()))
        return await future

    # ---- receiving ---------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Address) -> None:  # type: ignore[override]
        if not data.strip():
            return  # CRLF keepalives
        try:
            message = parse(data)
            log.debug("SIP from %s:%s: %s", addr[0], addr[1], message.start_line())
            if isinstance(message, Request):
                self._on_request(message, addr[:2])
            else:
                self._on_response(message)
        except ParseError as e:
            log.warning("dropped a datagram from %s:%s: %s", addr[0], addr[1], e)

    def _on_request(self, request: Request, peer: Address) -> None:
        if request.method == "ACK":
            return  # ours are non-INVITE answers: nothing to acknowledge
        key = server_key(request)
        txn = self._txns.get(key)
        if txn is not None:  # a retransmission: the machine answers it again, or not
            self._run(txn, txn.machine.on_request(request, self._now()))
            return
        if request.method in ("INVITE", "CANCEL"):
            # no INVITE server transaction here: a stateless answer (it is re-sent on
            # each retransmission, and the ACK for it is dropped above)
            self._send(self._answer(request, 405), peer)
            return
        txn = _Txn(key, ServerNonInvite(request, config=self.timer_config, reliable=False),
                   peer)
        self._txns[key] = txn
        if request.method == "MESSAGE":
            try:
                response = self.handler(request)
            except Exception:  # a bug in the handler must still answer the peer
                log.exception("MESSAGE handler failed")
                response = request.make_response(500, to_tag=secrets.token_hex(6))
        elif request.method == "OPTIONS":
            response = self._answer(request, 200)
        else:
            response = self._answer(request, 405)
        self._run(txn, txn.machine.send_response(response, response.status, self._now()))

    def _answer(self, request: Request, status: int) -> Response:
        response = request.make_response(status, to_tag=secrets.token_hex(6))
        if status in (200, 405):
            response.add_header("Allow", ALLOW)
        return response

    def _on_response(self, response: Response) -> None:
        txn = self._txns.get(client_key(response))
        if txn is None:
            return  # late retransmission of a final we already have (or not ours)
        self._run(txn, txn.machine.on_response(response, response.status, self._now()))

    # ---- driving a machine -------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _run(self, txn: _Txn, actions: list[Any]) -> None:
        failed = False
        for action in actions:
            if isinstance(action, Send):
                failed = not self._send(action.message, txn.peer) or failed
            elif isinstance(action, StartTimer):
                self._cancel(txn, action.timer)
                txn.timers[action.timer] = asyncio.get_running_loop().call_later(
                    action.delay, self._fire, txn, action.timer)
            elif isinstance(action, CancelTimer):
                self._cancel(txn, action.timer)
            elif isinstance(action, ToTU):
                if action.message.status >= 200:
                    self._resolve(txn, action.message)
            elif isinstance(action, TimedOut):
                self._resolve(txn, self._local_final(txn, 408))
            elif isinstance(action, TransportFailed):
                self._resolve(txn, self._local_final(txn, 503))
            elif isinstance(action, Terminated):
                self._drop(txn)
        if failed and not txn.machine.terminated:  # after the list (actions.py contract)
            self._run(txn, txn.machine.on_transport_error(self._now()))

    def _fire(self, txn: _Txn, timer: Timer) -> None:
        txn.timers.pop(timer, None)
        if self._txns.get(txn.key) is txn:
            self._run(txn, txn.machine.on_timer(timer, self._now()))

    def _cancel(self, txn: _Txn, timer: Timer) -> None:
        handle = txn.timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def _drop(self, txn: _Txn) -> None:
        for handle in txn.timers.values():
            handle.cancel()
        txn.timers.clear()
        if self._txns.get(txn.key) is txn:
            del self._txns[txn.key]
        if txn.future is not None and not txn.future.done():
            txn.future.set_result(self._local_final(txn, 503))

    @staticmethod
    def _resolve(txn: _Txn, response: Response) -> None:
        if txn.future is not None and not txn.future.done():
            txn.future.set_result(response)

    @staticmethod
    def _local_final(txn: _Txn, status: int) -> Response:
        return txn.machine.request.make_response(status)

    def _send(self, message: Request | Response, peer: Address) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        log.debug("SIP to %s:%s: %s", peer[0], peer[1], message.start_line())
        try:
            self.transport.sendto(message.to_bytes(), peer)
        except OSError as e:
            log.warning("cannot send to %s:%s: %s", peer[0], peer[1], e)
            return False
        return True

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for an earlier datagram: the retransmissions (Timer E)
        # and Timer F decide, as they would for a lost datagram.
        log.debug("UDP error: %s", exc)
