"""The XMPP gateway (issue 7 item 2): its own asyncio process (DESIGN.md, Processes).

An XEP-0114 component on an XMPP server (slixmpp) and, on the other side, a small SIP
user agent on loopback: the routing script relays MESSAGEs for the gateway's domain to
it, and it sends the XMPP users' chat to the core as SIP MESSAGEs. README.md says how
addresses map, what each failure is answered with, and the settings.

Modules: settings.py (the `geosip.gateways.xmpp` table, checked; pure), mapping.py (SIP
URI <-> JID; pure), component.py
(slixmpp component with reconnect), gateway.py (the glue), __main__.py (the process);
the SIP UA is the gateways' shared one, geosip/gateways/sipua.py (SMS uses it too).
"""
