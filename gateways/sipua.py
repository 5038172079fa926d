"""A small asyncio SIP user agent for the gateways (DESIGN.md, Processes).

A gateway (SMS, XMPP) is its own asyncio process and talks SIP to the core on loopback:
the core relays a MESSAGE to the gateway, the gateway answers it (202 once its far side
accepted it), and the gateway sends what arrives from its far side to the core as a
MESSAGE of its own. This module is that UA: one UDP socket, non-INVITE transactions
only (a gateway never places calls), no dialogs.

Contract.
- `await ua.start()` binds the socket; `ua.close()` releases it and ends every
  transaction (pending `request()` calls get a local 503).
- `await ua.request(req, dst)` sends a request through a client transaction (RFC 3261
  §17.1.2, geosip.sip.txn.ClientNonInvite drives retransmissions on Timer E and gives up
  on Timer F): returns the final Response, a local 408 on timeout, a local 503 when the
  datagram cannot be sent (§8.1.3.1). `dst` defaults to the UA's `proxy`. The UA adds
  its Via (fresh branch, rport) and Max-Forwards when missing.
- Incoming requests open a server transaction (ServerNonInvite): `handler(request,
  source)` is awaited once per transaction and returns the Response; retransmissions
  meanwhile are absorbed, and after the final they get it again until Timer J.
  Responses go back to the datagram's source (RFC 3581 rport behaviour, which is what
  a loopback core needs). ACK is ignored, INVITE refused 405 (no sessions here).
  A handler that raises answers 500 and is logged. Unparsable datagrams are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Awaitable, Callable

from geosip.sip import ParseError, Request, Response, parse
from geosip.sip.txn import (Action, CancelTimer, ClientNonInvite, Send, ServerNonInvite,
                            StartTimer, Terminated, TimedOut, Timer, TimerConfig, ToTU,
                            TransportFailed)
from geosip.sip.txn.keys import client_key, server_key

log = logging.getLogger("geosip.gateways.sipua")

Addr = tuple[str, int]
Handler = Callable[[Request, Addr], Awaitable[Response]]


class _Txn:
    """One transaction and the asyncio timers its machine armed."""

    __slots__ = ("machine", "dst", "timers", "done", "key")

    def __init__(self, machine: ClientNonInvite | ServerNonInvite, dst: Addr, key: tuple
                 ) -> None:
        self.machine = machine
        self.dst = dst
        self.key = key
        self.timers: dict[Timer, asyncio.TimerHandle] = {}
        self.done: asyncio.Future[Response] | None = None


class SipUA(asyncio.DatagramProtocol):
    """See the module doc. `host`/`port` is the local address (port 0: any free one;
    `port` holds the bound one after start); `proxy` is where requests go by default;
    `contact_user` names the UA in its Via/Contact host."""

    def __init__(self, host: str, port: int, *, proxy: Addr | None = None,
                 handler: Handler | None = None, timers: TimerConfig | None = None,
                 user_agent: str = "geosip-gateway") -> None:
        self.host = host
        self.port = port
        self.proxy = proxy
        self.handler = handler
        self.timers = timers or TimerConfig()
        self.user_agent = user_agent
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: dict[tuple, _Txn] = {}
        self._servers: dict[tuple, _Txn] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the UDP socket. Raises OSError when the address is taken."""
        self._loop = asyncio.get_running_loop()
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self.port))
        self._transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        for txn in list(self._clients.values()) + list(self._servers.values()):
            self._drop(txn)
            if txn.done is not None and not txn.done.done():
                txn.done.set_result(self._local_response(txn.machine.request, 503))
        for task in self._tasks:
            task.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def uri_host(self) -> str:
        """host:port of this UA, for Contact and From URIs of what it sends."""
        return f"{self.host}:{self.port}"

    # ---- client side -------------------------------------------------------------------

    async def request(self, request: Request, dst: Addr | None = None) -> Response:
        """Send `request` and return its final response (408/503 made locally)."""
        if request.method in ("INVITE", "ACK", "CANCEL"):
            raise ValueError(f"the gateway UA does not send {request.method}")
        target = dst or self.proxy
        if target is None or self._transport is None:
            return self._local_response(request, 503)
        branch = "z9hG4bK" + secrets.token_hex(10)
        request.prepend_value("Via", f"SIP/2.0/UDP {self.uri_host};branch={branch};rport")
        if not request.has("max-forwards"):
            request.add_header("Max-Forwards", "70")
        if not request.has("user-agent"):
            request.add_header("User-Agent", self.user_agent)
        machine = ClientNonInvite(request, config=self.timers, reliable=False)
        txn = _Txn(machine, target, client_key(request))
        assert self._loop is not None
        txn.done = self._loop.create_future()
        self._clients[txn.key] = txn
        self._run(txn, machine.start(self._loop.time()))
        return await txn.done

    # ---- datagrams ---------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Addr) -> None:  # type: ignore[override]
        if not data.strip(b"\r\n"):
            return  # keepalive (RFC 5626 §3.5.1)
        try:
            msg = parse(data)
            if isinstance(msg, Response):
                self._on_response(msg)
            else:
                self._on_request(msg, addr)  # type: ignore[arg-type]
        except ParseError as exc:
            log.info("dropped a datagram from %s:%s: %s", addr[0], addr[1], exc)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for something we sent; Timer F or J handles it.
        log.debug("UDP error: %s", exc)

    def _on_response(self, response: Response) -> None:
        txn = self._clients.get(client_key(response))
        if txn is None:
            return  # stray or late (after Timer K): nothing waits for it
        assert self._loop is not None
        machine: ClientNonInvite = txn.machine  # type: ignore[assignment]
        self._run(txn, machine.on_response(response, response.status, self._loop.time()))

    def _on_request(self, request: Request, addr: Addr) -> None:
        if request.method == "ACK":
            return  # only ever for an INVITE, which we refused statelessly
        key = server_key(request)
        assert self._loop is not None
        txn = self._servers.get(key)
        if txn is not None:
            machine: ServerNonInvite = txn.machine  # type: ignore[assignment]
            self._run(txn, machine.on_request(request, self._loop.time()))
            return
        if request.method == "INVITE":
            resp = request.make_response(405, to_tag=secrets.token_hex(6))
            resp.add_header("Allow", "MESSAGE, OPTIONS")
            self._send(resp.to_bytes(), addr)
            return
        txn = _Txn(ServerNonInvite(request, config=self.timers, reliable=False), addr, key)
        self._servers[key] = txn
        task = self._loop.create_task(self._answer(txn, request, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, txn: _Txn, request: Request, addr: Addr) -> None:
        try:
            if self.handler is None:
                response = request.make_response(501)
            else:
                response = await self.handler(request, addr)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s from %s:%s: handler failed", request.method, *addr)
            response = request.make_response(500)
        if self._servers.get(txn.key) is not txn:
            return  # closed meanwhile
        if response.status > 100 and response.to_tag is None:
            response.set_header("To", str(response.to.with_param("tag", secrets.token_hex(6))))
        if not response.has("server"):
            response.add_header("Server", self.user_agent)
        assert self._loop is not None
        machine: ServerNonInvite = txn.machine  # type: ignore[assignment]
        self._run(txn, machine.send_response(response, response.status, self._loop.time()))

    # ---- driving the machines ----------------------------------------------------------

    def _run(self, txn: _Txn, actions: list[Action[Request | Response]]) -> None:
        """Carry out a machine's actions in order (geosip.sip.txn.actions contract)."""
        failed = False
        assert self._loop is not None
        for action in actions:
            if isinstance(action, Send):
                failed |= not self._send(action.message.to_bytes(), txn.dst)
            elif isinstance(action, StartTimer):
                old = txn.timers.pop(action.timer, None)
                if old is not None:
                    old.cancel()
                txn.timers[action.timer] = self._loop.call_later(
                    action.delay, self._fire, txn, action.timer)
            elif isinstance(action, CancelTimer):
                handle = txn.timers.pop(action.timer, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(action, ToTU):
                if action.message.status >= 200:
                    self._settle(txn, action.message)
            elif isinstance(action, TimedOut):
                self._settle(txn, self._local_response(txn.machine.request, 408))
            elif isinstance(action, TransportFailed):
                self._settle(txn, self._local_response(txn.machine.request, 503))
            elif isinstance(action, Terminated):
                self._drop(txn)
        if failed and not txn.machine.terminated:
            self._run(txn, txn.machine.on_transport_error(self._loop.time()))

    def _fire(self, txn: _Txn, timer: Timer) -> None:
        txn.timers.pop(timer, None)
        assert self._loop is not None
        self._run(txn, txn.machine.on_timer(timer, self._loop.time()))

    def _settle(self, txn: _Txn, response: Response) -> None:
        if txn.done is not None and not txn.done.done():
            txn.done.set_result(response)

    def _drop(self, txn: _Txn) -> None:
        for handle in txn.timers.values():
            handle.cancel()
        txn.timers.clear()
        table = self._clients if isinstance(txn.machine, ClientNonInvite) else self._servers
        if table.get(txn.key) is txn:
            del table[txn.key]

    def _send(self, data: bytes, addr: Addr) -> bool:
        if self._transport is None:
            return False
        try:
            self._transport.sendto(data, addr)
        except OSError as exc:
            log.warning("cannot send to %s:%s: %s", addr[0], addr[1], exc)
            return False
        return True

    @staticmethod
    def _local_response(request: Request, status: int) -> Response:
        return request.make_response(status)
