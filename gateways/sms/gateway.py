"""The SMS gateway's SIP side: a MESSAGE in becomes an SMS out, an SMS in becomes a
MESSAGE to the core (DESIGN.md, Processes; issue 7 item 3).

MT (SIP -> SMS). The core relays a MESSAGE for `sip:+447700900123@<domain>` or
`tel:+447700900123` to the gateway. The recipient is the Request-URI's number, the SMS
sender is the number `numbers` gives the From user. The gateway answers 202 Accepted
(RFC 3428 §7) once the SMSC accepted every part, or the status errors.py maps the
refusal to; nothing is answered before the SMSC has spoken, so a 503 at the sender
means the SMS was not taken and the sender (or msilo) may send it again.

MO (SMS -> SIP). A connector hands in (sender, recipient, text); the recipient number is
looked up in `numbers` and a MESSAGE `From: sip:+<sender>@<domain>` goes to that SIP URI
through the core, so the script (and msilo for an offline user) treats it like any
other. The connector acknowledges the SMS to the SMSC only after a 2xx: a failure makes
the SMSC keep it and deliver again (SMPP), or is reported to Kannel (HTTP 503).

Receipts. With `receipts = "message"` the SMPP connector asks for delivery receipts
(registered_delivery 1) and the gateway tells the SIP sender in a MESSAGE from the
recipient's number: "SMS to +447700900123 delivered" (or "not delivered (UNDELIV)")
once every part's receipt is in.

Counters (report.py, pushed to geosip run as gateway:sms_<name>): sip_received
(MESSAGEs from the core), submitted (of those, accepted by the SMSC: the 202s),
submit_failed (the others: refused here or by the SMSC), throttled (of those, the
SMSC or Kannel asking to slow down), delivered_in (SMS delivered to SIP: 2xx),
deliver_failed (SMS to an unknown number or not taken by SIP), receipts (delivery
receipts from the SMSC), sip_sent (MESSAGEs the core answered 2xx: SMS and receipt
notices), reconnects (SMPP binds after the first); state bound (SMPP: bound to the
SMSC; Kannel: sendsms answered the last request).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Protocol
from urllib.parse import quote

from geosip.gateways.report import Report
from geosip.gateways.sipua import SipUA
from geosip.sip.outgoing import new_request
from geosip.sip import Request, Response

from .errors import SubmitError
from .numbers import BadNumber, number_of
from .settings import Settings

log = logging.getLogger("geosip.gateways.sms")

MAX_RECEIPTS = 10000  # receipts waited for; the oldest are forgotten past this
TEXT_TYPES = ("text/plain",)
# RFC 3261 §25.1 user = unreserved / escaped / user-unreserved: an SMSC's sender ("+4930123",
# "Vodafone") is kept as it is, anything else %-escaped, so the From is always SIP.
_USER_SAFE = "-_.!~*'()&=+$,"
COUNTERS = ("sip_received", "submitted", "submit_failed", "throttled", "delivered_in",
            "deliver_failed", "receipts", "sip_sent")


class Connector(Protocol):
    bound: bool       # can submit now (the `bound` state)
    reconnects: int   # sessions set up again after the first

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def submit(self, source: str, dest: str, text: str) -> list[str]:
        """Message ids of the parts the SMSC accepted; raises SubmitError."""


class _Pending:
    """A sent SMS whose receipts are awaited."""

    __slots__ = ("sender", "dest", "waiting", "failed")

    def __init__(self, sender: str, dest: str, ids: list[str]) -> None:
        self.sender = sender
        self.dest = dest
        self.waiting = set(ids)
        self.failed: str | None = None


class SmsGateway:
    """See the module doc. `connector` is built by the caller (main.py) with this
    gateway as its `deliver`/`receipt` target."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ua = SipUA(*settings.listen, proxy=settings.proxy, handler=self.on_sip,
                        user_agent="geosip-sms-gateway")
        self.connector: Connector | None = None
        self._receipts: OrderedDict[str, _Pending] = OrderedDict()
        self.report = Report("sms", COUNTERS,
                             read={"reconnects": lambda: getattr(self.connector,
                                                                 "reconnects", 0)},
                             state={"bound": lambda: int(bool(getattr(self.connector,
                                                                      "bound", False)))})

    async def start(self, connector: Connector) -> None:
        """Bind the SIP socket and start the connector (raises OSError when the SIP
        address is taken)."""
        self.connector = connector
        await self.ua.start()
        await connector.start()
        log.info("SMS gateway on %s:%s (%s connector)", self.ua.host, self.ua.port,
                 self.settings.connector)
        self.report.start(self.settings.control_socket)

    async def close(self) -> None:
        if self.connector is not None:
            await self.connector.close()
        self.ua.close()
        await self.report.stop()  # the last values

    # ---- MT: SIP MESSAGE -> SMS --------------------------------------------------------

    async def on_sip(self, request: Request, addr: tuple[str, int]) -> Response:
        if request.method != "MESSAGE":
            return self._not_message(request)
        self.report.inc("sip_received")
        response = await self._submit(request)
        self.report.inc("submitted" if response.status == 202 else "submit_failed")
        return response

    @staticmethod
    def _not_message(request: Request) -> Response:
        if request.method == "OPTIONS":
            return request.make_response(200)
        resp = request.make_response(405)
        resp.add_header("Allow", "MESSAGE, OPTIONS")
        return resp

    async def _submit(self, request: Request) -> Response:
        ctype = (request.content_type or "text/plain").split(";")[0].strip().lower()
        if ctype not in TEXT_TYPES:
            resp = request.make_response(415)  # RFC 3428 §7: only what we can send as SMS
            resp.add_header("Accept", "text/plain")
            return resp
        try:
            dest = number_of(request.uri)
        except BadNumber:
            return request.make_response(484)  # RFC 3261 §21.4.22
        source = self.settings.numbers.number_for(request.from_.uri)
        if source is None:
            return request.make_response(403, "No SMS Number For Sender")
        text = _body_text(request)
        assert self.connector is not None
        try:
            ids = await self.connector.submit(source, dest, text)
        except SubmitError as exc:
            log.info("SMS %s -> %s refused: %s", source, dest, exc)
            if exc.throttled:
                self.report.inc("throttled")
            resp = request.make_response(exc.status, exc.reason[:100])
            if exc.retry_after is not None:
                resp.add_header("Retry-After", str(exc.retry_after))  # RFC 3261 §20.33
            return resp
        log.info("SMS %s -> %s accepted (%d part(s))", source, dest, len(ids))
        if self.settings.receipts == "message" and ids:
            pending = _Pending(str(request.from_.uri), dest, ids)
            for mid in ids:
                self._receipts[mid] = pending
            while len(self._receipts) > MAX_RECEIPTS:
                self._receipts.popitem(last=False)
        return request.make_response(202)

    # ---- MO: SMS -> SIP MESSAGE --------------------------------------------------------

    async def deliver(self, source: str, dest: str, text: str) -> int:
        """Send an inbound SMS to the SIP user of `dest`; the SIP status of the
        outcome (404 when `dest` is nobody's number)."""
        uri = self.settings.numbers.uri_for(dest)
        if uri is None:
            log.info("SMS from %s to unknown number %s refused", source, dest)
            self.report.inc("deliver_failed")
            return 404
        user = quote(source, safe=_USER_SAFE)
        status = await self._message(f"sip:{user}@{self.settings.domain}", uri, text)
        self.report.inc("delivered_in" if 200 <= status < 300 else "deliver_failed")
        return status

    async def receipt(self, message_id: str, delivered: bool, state: str) -> None:
        """A delivery receipt for part `message_id` (SMPP 3.4 Appendix B `stat`)."""
        self.report.inc("receipts")
        pending = self._receipts.pop(message_id, None)
        if pending is None:
            return
        pending.waiting.discard(message_id)
        if not delivered and pending.failed is None:
            pending.failed = state
        if pending.waiting and pending.failed is None:
            return
        for mid in pending.waiting:  # a failed part settles the whole SMS
            self._receipts.pop(mid, None)
        pending.waiting.clear()
        outcome = "delivered" if pending.failed is None else f"not delivered ({pending.failed})"
        await self._message(f"sip:{pending.dest}@{self.settings.domain}", pending.sender,
                            f"SMS to {pending.dest} {outcome}")

    async def _message(self, from_uri: str, to_uri: str, text: str) -> int:
        try:
            req = new_request("MESSAGE", to_uri, from_uri, body=text.encode("utf-8"),
                              content_type="text/plain;charset=UTF-8")
        except ValueError as e:  # nothing a peer sent may make an unparsable MESSAGE
            log.warning("MESSAGE %s -> %s not sent: %s", from_uri, to_uri, e)
            return 400
        resp = await self.ua.request(req)
        log.info("MESSAGE %s -> %s: %s", from_uri, to_uri, resp.status)
        if 200 <= resp.status < 300:
            self.report.inc("sip_sent")
        return resp.status


def _body_text(request: Request) -> str:
    """The body as text: its charset parameter, UTF-8 when none (RFC 3428 §9)."""
    charset = "utf-8"
    for param in (request.content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or charset
    try:
        return request.body.decode(charset, "replace")
    except LookupError:
        return request.body.decode("utf-8", "replace")
