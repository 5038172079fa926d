"""Addresses across the gateway, as Kamailio's xmpp module maps them (its README,
"domain_separator"): a user and a domain of the other network are written together as
`user<sep>domain`, in the user part of a SIP URI on the gateway's SIP domain, or in the
localpart of a JID on the component's domain. With sep "*", gateway domain
xmpp-gw.example.com and component sip.example.com:

    SIP  sip:juliet*xmpp.example.com@xmpp-gw.example.com  ->  XMPP juliet@xmpp.example.com
    XMPP romeo*sip.example.com@sip.example.com           ->  SIP  sip:romeo@sip.example.com

A domain cannot contain the separator (settings.py refuses dots and the other domain
characters), so the last separator splits user from domain and a user may contain it.
An empty user stands for an address without one (the XMPP server's own JID).

Pure: no I/O. Every function raises ValueError for an address it cannot map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from geosip.sip import SipUri

# RFC 7622 §3.3.1: a localpart may not hold these; a domainpart is a host name here.
_BAD_LOCAL = re.compile(r"""[\s"&'/:<>@]""")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True, slots=True)
class AddressMap:
    component: str          # JID domain of the component (SIP users live here in XMPP)
    gateway_domain: str     # SIP host under which XMPP users are reached
    separator: str = "*"

    def _join(self, user: str | None, domain: str) -> str:
        return f"{user or ''}{self.separator}{domain}"

    def _split(self, text: str) -> tuple[str, str]:
        user, sep, domain = text.rpartition(self.separator)
        if not sep or not _DOMAIN.fullmatch(domain):
            raise ValueError(f"{text!r} is not user{self.separator}domain")
        return user, domain

    def xmpp_target(self, sip_user: str | None) -> str:
        """The JID a MESSAGE to sip:<sip_user>@gateway_domain goes to."""
        user, domain = self._split(sip_user or "")
        if _BAD_LOCAL.search(user):
            raise ValueError(f"{user!r} cannot be a JID localpart")
        return f"{user}@{domain}" if user else domain

    def xmpp_sender(self, sip_uri: SipUri) -> str:
        """The component JID that stands for the SIP user `sip_uri` (its sender)."""
        user = sip_uri.user or ""
        if _BAD_LOCAL.search(user):
            raise ValueError(f"SIP user {user!r} cannot be written into a JID")
        return f"{self._join(user, sip_uri.host.lower())}@{self.component}"

    def sip_target(self, jid_local: str) -> str:
        """The SIP URI a chat to <jid_local>@component goes to."""
        user, domain = self._split(jid_local)
        return str(SipUri("sip", user or None, domain))

    def sip_sender(self, bare_jid: str) -> str:
        """The SIP URI on the gateway domain that stands for the XMPP user `bare_jid`."""
        local, at, domain = bare_jid.rpartition("@")
        if not at:
            local, domain = "", bare_jid
        return str(SipUri("sip", self._join(local, domain), self.gateway_domain))
