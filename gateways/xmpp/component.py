"""The XEP-0114 component (slixmpp): the gateway's presence in the XMPP network.

`online` is true between session_start and the loss of the connection; the gateway
answers SIP with 503 while it is false (README.md). When the XMPP server goes away the
component connects again: slixmpp's own connect loop retries with a growing wait, which
is capped here at `max_backoff` seconds (slixmpp lets it grow to 300 s, far too long
for a gateway whose users get 503s meanwhile).

Presence (RFC 6121 §3.1.3, §4.3): a subscription request to one of our JIDs is approved
(`subscribed`) and followed by `unavailable`, so an XMPP client keeps the SIP user as a
contact without ever showing it online; a probe is answered `unavailable`. Presence of
SIP users is not gatewayed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slixmpp import ComponentXMPP

log = logging.getLogger("geosip.gateways.xmpp")

# (from_jid_bare, to_jid_local, body, message_id)
ChatHandler = Callable[[str, str, str, str], None]


class Component(ComponentXMPP):
    def __init__(self, jid: str, secret: str, host: str, port: int, on_chat: ChatHandler,
                 *, reconnect_delay: float = 0.5, max_backoff: float = 10.0) -> None:
        super().__init__(jid, secret, host=host, port=port)
        self.loop = asyncio.get_event_loop()
        self.on_chat = on_chat
        self.online = False
        self.stopping = False
        self.sessions = 0  # handshakes completed; the ones after the first are reconnects
        self.reconnect_delay = reconnect_delay
        self.max_backoff = max_backoff
        self._delay = reconnect_delay  # doubles while links drop before the handshake
        # slixmpp's component answers probes from its roster, with `unsubscribed` for a
        # contact it does not know: that would undo the approval below.
        self.del_event_handler("presence_probe", self._handle_probe)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("message", self._on_message)
        self.add_event_handler("presence_subscribe", self._on_subscribe)
        self.add_event_handler("presence_probe", self._on_probe)

    # ---- connection --------------------------------------------------------------------

    def _on_session_start(self, _: Any) -> None:
        self.online = True
        self.sessions += 1
        self._delay = self.reconnect_delay
        log.info("XMPP component %s connected to %s:%s", self.boundjid.bare,
                 self.server_host, self.server_port)

    def _on_disconnected(self, reason: Any) -> None:
        was_online, self.online = self.online, False
        if self.stopping:
            return
        log.warning("XMPP link down (%s)%s: connecting again", reason or "closed",
                    "" if was_online else " before the handshake")
        # Not from inside the event: slixmpp finishes its own clean-up first. A link
        # that keeps dropping before the handshake (a wrong secret) waits longer each time.
        self.loop.call_later(self._delay, self._reconnect)
        if not was_online:
            self._delay = min(self._delay * 2, self.max_backoff)

    def _reconnect(self) -> None:
        if not self.stopping and self.transport is None:
            self.connect()

    def reschedule_connection_attempt(self) -> asyncio.Future | None:
        future = super().reschedule_connection_attempt()
        # slixmpp's wait (private, read by its connect loop when the task it just made
        # first runs): at most max_backoff seconds between attempts
        self._connect_loop_wait = min(self._connect_loop_wait, self.max_backoff)
        return future

    async def stop(self) -> None:
        self.stopping = True
        self.cancel_connection_attempt()
        if self.transport is not None:
            await self.disconnect(wait=1.0)

    # ---- stanzas -----------------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        if msg["type"] not in ("chat", "normal") or not msg["body"]:
            if msg["type"] == "error":
                log.info("XMPP error from %s to %s: %s", msg["from"], msg["to"],
                         msg["error"]["condition"])
            return  # chat states, receipts, errors: nothing to carry to SIP
        self.on_chat(msg["from"].bare, msg["to"].user, msg["body"], msg["id"] or "")

    def _on_subscribe(self, presence: Any) -> None:
        to, frm = presence["to"].bare, presence["from"].bare
        self.send_presence(pto=frm, pfrom=to, ptype="subscribed")
        self.send_presence(pto=frm, pfrom=to, ptype="unavailable")

    def _on_probe(self, presence: Any) -> None:
        self.send_presence(pto=presence["from"].bare, pfrom=presence["to"].bare,
                           ptype="unavailable")

    def chat(self, mfrom: str, mto: str, body: str) -> None:
        self.send_message(mto=mto, mfrom=mfrom, mbody=body, mtype="chat")

    def error_reply(self, mfrom: str, mto: str, condition: str, text: str,
                    body: str = "", message_id: str = "") -> None:
        """A message of type error (RFC 6120 §8.3) back to the XMPP sender."""
        msg = self.make_message(mto=mto, mfrom=mfrom, mbody=body or None, mtype="error")
        if message_id:
            msg["id"] = message_id
        msg["error"]["type"] = "cancel" if condition != "remote-server-timeout" else "wait"
        msg["error"]["condition"] = condition
        msg["error"]["text"] = text
        msg.send()
