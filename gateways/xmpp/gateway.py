"""The glue: SIP MESSAGE -> XMPP chat, XMPP chat -> SIP MESSAGE (README.md).

SIP to XMPP, answered at once (RFC 3428 §7: 202 Accepted, as a relay that does not
know whether the user will read it):
- 202 when the chat was handed to the XMPP server;
- 503 with Retry-After (settings.retry_after) while the component is not connected,
  so the sender (or msilo in front of us) knows to try again: nothing is queued here;
- 404 for a Request-URI that does not name user<sep>domain, 415 (Accept: text/plain)
  for a body that is not text, 400 for text that is not UTF-8.

XMPP to SIP: a MESSAGE to the core (settings.proxy) with Request-URI and To the SIP
user, From the XMPP user on the gateway domain. The core routes it like any other
MESSAGE (to the registered phone, or msilo stores it). When the core answers with a
failure, or not at all, the XMPP sender gets a message of type error, so the chat is
never dropped without a word.

Counters (report.py, pushed to geosip run as gateway:xmpp_<name>): sip_received
(MESSAGEs from the core), xmpp_sent (chats handed to the XMPP server: the 202s),
refused_503 (while the link was down), xmpp_received (chats from XMPP users),
sip_sent (of those, MESSAGEs the core answered 2xx), failed (not carried either way:
a SIP MESSAGE refused 400/404/415, a chat answered with an XMPP error), reconnects
(handshakes after the first) and the state connected (1 while the link is up).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from geosip.gateways.report import Report
from geosip.gateways.sipua import SipUA
from geosip.sip.outgoing import new_request
from geosip.sip import ParseError, Request, Response, SipUri

from .component import Component
from .mapping import AddressMap
from .settings import Settings, host_port

log = logging.getLogger("geosip.gateways.xmpp")

COUNTERS = ("sip_received", "xmpp_sent", "refused_503", "xmpp_received", "sip_sent",
            "failed")

# SIP failure -> XMPP stanza error condition (RFC 6120 §8.3.3)
_CONDITIONS = {404: "item-not-found", 408: "remote-server-timeout",
               480: "recipient-unavailable", 486: "recipient-unavailable",
               403: "forbidden", 415: "not-acceptable", 513: "not-acceptable"}


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.map = AddressMap(settings.component, settings.gateway_domain,
                              settings.domain_separator)
        self.proxy = host_port(settings.proxy, "proxy")
        self.ua = SipUA(*host_port(settings.sip_listen, "sip_listen"), proxy=self.proxy,
                        handler=self.on_sip_request, user_agent="geosip-xmpp-gateway")
        host, port = host_port(settings.server, "server")
        self.component = Component(settings.component, settings.secret, host, port,
                                   self.on_chat)
        self._sending: set[asyncio.Task[None]] = set()
        component = self.component
        self.report = Report("xmpp", COUNTERS,
                             read={"reconnects": lambda: max(component.sessions - 1, 0)},
                             state={"connected": lambda: int(component.online)})

    async def start(self) -> None:
        """Bind the SIP port (OSError when taken) and start connecting to XMPP."""
        await self.ua.start()
        log.info("XMPP gateway: SIP on %s, component %s via %s", self.ua.uri_host,
                 self.settings.component, self.settings.server)
        self.component.connect()
        self.report.start(self.settings.control_socket)

    async def stop(self) -> None:
        await self.component.stop()
        self.ua.close()
        await self.report.stop()  # the last values, connected 0

    # ---- SIP -> XMPP -------------------------------------------------------------------

    async def on_sip_request(self, request: Request, source: tuple[str, int]) -> Response:
        """Each new request from the core (the UA absorbs retransmissions): MESSAGE is
        carried over, OPTIONS (a keepalive probe) answered 200, the rest 405."""
        if request.method == "MESSAGE":
            return self.on_sip_message(request)
        response = request.make_response(200 if request.method == "OPTIONS" else 405)
        response.add_header("Allow", "MESSAGE, OPTIONS")
        return response

    def on_sip_message(self, request: Request) -> Response:
        self.report.inc("sip_received")
        response = self._carry(request)
        if response.status == 202:
            self.report.inc("xmpp_sent")
        else:
            self.report.inc("refused_503" if response.status == 503 else "failed")
        return response

    def _carry(self, request: Request) -> Response:
        tag = secrets.token_hex(6)
        try:
            uri = request.uri
            sender = request.from_.uri
            if not isinstance(uri, SipUri) or not isinstance(sender, SipUri):
                raise ValueError("sip: URIs only")
            target = self.map.xmpp_target(uri.user)
            jid_from = self.map.xmpp_sender(sender)
        except (ValueError, ParseError) as e:
            log.info("MESSAGE to %s refused: %s", request.uri_text, e)
            return request.make_response(404, "Not Found (no user*domain)", to_tag=tag)
        media = (request.content_type or "text/plain").split(";")[0].strip().lower()
        if media != "text/plain":
            response = request.make_response(415, to_tag=tag)
            response.add_header("Accept", "text/plain")
            return response
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return request.make_response(400, "Body Not UTF-8", to_tag=tag)
        if not self.component.online:
            log.info("MESSAGE from %s to %s: 503, the XMPP link is down", sender, target)
            response = request.make_response(503, "XMPP Server Unreachable", to_tag=tag)
            response.add_header("Retry-After", str(self.settings.retry_after))
            return response
        self.component.chat(jid_from, target, body)
        log.debug("SIP %s -> XMPP %s as %s", request.from_.uri, target, jid_from)
        return request.make_response(202, to_tag=tag)

    # ---- XMPP -> SIP -------------------------------------------------------------------

    def on_chat(self, from_bare: str, to_local: str, body: str, message_id: str) -> None:
        self.report.inc("xmpp_received")
        our_jid = f"{to_local}@{self.settings.component}" if to_local else \
            self.settings.component
        try:
            target = self.map.sip_target(to_local)
            sender = self.map.sip_sender(from_bare)
        except ValueError as e:
            self.report.inc("failed")
            self.component.error_reply(our_jid, from_bare, "item-not-found", str(e), body,
                                       message_id)
            return
        task = asyncio.ensure_future(self._relay(target, sender, body, our_jid, from_bare,
                                                 message_id))
        self._sending.add(task)  # keep a reference until it is done
        task.add_done_callback(self._sending.discard)

    async def _relay(self, target: str, sender: str, body: str, our_jid: str,
                     from_bare: str, message_id: str) -> None:
        try:  # a JID whose parts cannot be written as a SIP URI is refused, not sent
            request = new_request("MESSAGE", target, sender, body=body.encode("utf-8"),
                                  content_type="text/plain;charset=UTF-8")
        except ValueError as e:
            self.report.inc("failed")
            self.component.error_reply(our_jid, from_bare, "jid-malformed", str(e), body,
                                       message_id)
            return
        response = await self.ua.request(request)
        log.debug("XMPP %s -> SIP %s: %d", from_bare, target, response.status)
        self.report.inc("sip_sent" if response.status < 300 else "failed")
        if response.status >= 300:
            condition = _CONDITIONS.get(response.status, "service-unavailable")
            self.component.error_reply(our_jid, from_bare, condition,
                                       f"SIP {response.status} {response.reason}", body,
                                       message_id)
