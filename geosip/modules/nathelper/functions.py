"""KSR.nathelper: NAT detection and the Contact, Request-URI and SDP fixes of
Kamailio's nathelper module (KEMI exports), README.md in this folder.

The message is the one the route runs for (KSR.hdr's `message`): the request in
request/branch/failure routes, the reply in reply routes. Its source is where it came
from: the request's source address, or for a reply the address its branch was sent to
(the reply of a UDP peer behind NAT comes back from there, and over a stream the
connection is that address), since geosip keeps no per-reply receive info.
Return codes are Kamailio's (> 0 true, < 0 false).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from geosip.core.context import RequestContext
from geosip.script import pv
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import message
from geosip.sip import Address, Field, Message, ParseError, SipUri
from geosip.transport.base import Endpoint, normalize_host

from .api import (ALIAS_PROTOS, SETTINGS, alias_destination, alias_value, is_private,
                  source_uri)

log = logging.getLogger("geosip.modules.nathelper")

# nat_uac_test flags (Kamailio's NAT_UAC_TEST_*)
C1918, RCVD, V1918, S1918, RPORT, O1918, WS, C_PORT, SDP_SRC = (
    1, 2, 4, 8, 16, 32, 64, 128, 256)

# fix_nated_sdp flags
ADD_ADIRECTION, FIX_MEDIP, ADD_ANORTPPROXY, FIX_ORGIP = 1, 2, 4, 8

_SDP_ADDRESS = re.compile(rb"^(?P<head>(?:c|o)=.*?IN\s+IP(?P<v>[46])\s+)(?P<ip>\S+)",
                          re.MULTILINE)


def source(ctx: RequestContext) -> Endpoint:
    """Where the message the route runs for came from (module docstring)."""
    reply = ctx.script.reply
    if reply is not None and message(ctx) is reply and ctx.cell is not None:
        try:
            branch_id = reply.top_via.branch
        except ParseError:
            branch_id = None
        for branch in ctx.cell.branches:
            if branch.branch_id == branch_id and branch.dest is not None:
                return branch.dest
    return ctx.inbound.source


def _first_contact(msg: Message) -> Address | None:
    try:
        contacts = msg.contact
    except ParseError:
        return None
    return contacts[0] if contacts else None


def _write_contacts(msg: Message, values: list[str]) -> None:
    """The Contact values become `values`, in one field where the first one was."""
    fields: list[Field] = []
    placed = False
    for f in msg.fields:
        if f.key != "contact":
            fields.append(f)
        elif not placed:
            fields.append(Field.new(f.name, ", ".join(values)))
            placed = True
    msg.replace_fields(fields)


def _set_first_contact(msg: Message, address: Address) -> None:
    """The first Contact value becomes `address`; the other values stay as written."""
    values = msg.values("contact")
    values[0] = str(address)
    _write_contacts(msg, values)


def _uri_proto(uri: SipUri) -> str:
    return uri.transport or ("tls" if uri.secure else "udp")


def _default_port(uri: SipUri) -> int:
    return 5061 if uri.secure else 5060


def _via_differs(msg: Message, src: Endpoint, port: bool) -> bool:
    try:
        via = msg.top_via
    except ParseError:
        return False
    if port:  # a Via without a port means 5060 (Kamailio's SIP_PORT)
        return (via.port or 5060) != src.port
    return normalize_host(via.host) != src.host


def _sdp_addresses(msg: Message, kinds: bytes = b"c") -> list[str]:
    return [m["ip"].decode("ascii", "replace") for m in _SDP_ADDRESS.finditer(msg.body)
            if m["head"][:1] in kinds]


@ksr("nat_uac_test", "i", returns="1 a test found NAT, -1 none did")
def nat_uac_test(ctx: RequestContext, flags: int) -> int:
    """Guess whether the sender is behind NAT; `flags` ORs the tests: 1 private IP in
    Contact, 2 top Via host is not the source IP, 4 private IP in the top Via, 8 private
    IP in the SDP c= lines, 16 source port is not the Via port, 32 private source IP,
    64 received over WebSocket, 128 Contact port is not the source port, 256 an SDP c=
    address is not the source IP."""
    flags = int(flags)
    msg = message(ctx)
    src = source(ctx)
    contact = _first_contact(msg) if flags & (C1918 | C_PORT) else None
    uri = contact.uri if contact is not None and isinstance(contact.uri, SipUri) else None
    if flags & C1918 and uri is not None and is_private(uri.host):
        return 1
    if flags & RCVD and _via_differs(msg, src, port=False):
        return 1
    if flags & V1918:
        try:
            if is_private(msg.top_via.host):
                return 1
        except ParseError:
            pass
    if flags & S1918 and any(is_private(ip) for ip in _sdp_addresses(msg)):
        return 1
    if flags & RPORT and _via_differs(msg, src, port=True):
        return 1
    if flags & O1918 and is_private(src.host):
        return 1
    if flags & WS and src.proto in ("ws", "wss"):
        return 1
    if flags & C_PORT and uri is not None and (uri.port or _default_port(uri)) != src.port:
        return 1
    if flags & SDP_SRC and any(normalize_host(ip) != src.host for ip in _sdp_addresses(msg)):
        return 1
    return -1


@ksr("is_rfc1918", "s", returns="1 a private IPv4 address (RFC 1918/6598), -1 not")
def is_rfc1918(ctx: RequestContext, address: str) -> int:
    """Whether `address` is in a private range (nat_addr_mode says which)."""
    return 1 if is_private(address) else -1


@ksr("fix_nated_contact", returns="1 rewritten, -1 no Contact or not a SIP URI")
def fix_nated_contact(ctx: RequestContext) -> int:
    """Rewrite the first Contact URI's host and port to the source address (breaks
    RFC 3261's end-to-end Contact; add_contact_alias is the conforming way)."""
    msg = message(ctx)
    contact = _first_contact(msg)
    if contact is None or not isinstance(contact.uri, SipUri):
        return -1
    src = source(ctx)
    host = f"[{src.host}]" if src.ipv6 else src.host
    _set_first_contact(msg, contact.replace(uri=contact.uri.replace(host=host, port=src.port)))
    return 1


@ksr("fix_nated_register", returns="1 (the source URI is in received_avp), -1 error")
def fix_nated_register(ctx: RequestContext) -> int:
    """Store the REGISTER's source as sip:ip:port;transport=x in the received_avp AVP;
    registrar's save() keeps it as the binding's received address (lookup then sends
    there)."""
    name = str(SETTINGS.get("received_avp") or "")
    if not name:
        return 1   # Kamailio: nothing to do without received_avp
    try:
        pv.parse(name).set(ctx, source_uri(source(ctx)))
    except pv.PvError as exc:
        log.error("nathelper: received_avp %s: %s", name, exc)
        return -1
    return 1


def _alias(ctx: RequestContext, host: str, port: int, proto: str, always: bool) -> int:
    msg = message(ctx)
    contact = _first_contact(msg)
    if contact is None or not isinstance(contact.uri, SipUri):
        return -1
    uri = contact.uri
    if not always:
        same_host = normalize_host(uri.host) == host
        same_port = (uri.port or _default_port(uri)) == port
        if same_host and same_port and _uri_proto(uri) == proto:
            return 2
    try:
        value = alias_value(f"[{host}]" if ":" in host else host, port, proto)
    except ValueError as exc:
        log.error("nathelper: add_contact_alias: %s", exc)
        return -1
    _set_first_contact(msg, contact.replace(uri=uri.replace(params=uri.params.set("alias",
                                                                                   value))))
    return 1


@ksr("add_contact_alias", "???",
     returns="1 alias added, 2 not needed (the Contact is the source address), -1 error")
def add_contact_alias(ctx: RequestContext, ip: Any = None, port: Any = None,
                      proto: Any = None) -> int:
    """Add ;alias=ip~port~proto to the first Contact URI: the source address, or the
    one given as (ip, port, proto). Without arguments only when the Contact is not
    already the source address. handle_ruri_alias() turns it back into $du."""
    if ip is not None or port is not None or proto is not None:
        return int(add_contact_alias_addr.fn(ctx, str(ip), str(port), str(proto)))
    src = source(ctx)
    return _alias(ctx, src.host, src.port, src.proto, always=False)


@ksr("add_contact_alias_addr", "sss", returns="1 alias added, -1 error")
def add_contact_alias_addr(ctx: RequestContext, ip: str, port: str, proto: str) -> int:
    """add_contact_alias with the address given (Kamailio's KEMI name for the
    three-argument form): ip, port, proto (udp, tcp, tls, sctp, ws, wss)."""
    text = str(port).strip()
    if not text.isdigit() or not 0 < int(text) < 65536 or proto.lower() not in ALIAS_PROTOS:
        log.error("nathelper: add_contact_alias(%r, %r, %r): bad port or transport",
                  ip, port, proto)
        return -1
    return _alias(ctx, normalize_host(ip.strip()), int(text), proto.lower(), always=True)


@ksr("set_contact_alias", "?", returns="1 alias set, -1 error")
def set_contact_alias(ctx: RequestContext, trim: Any = None) -> int:
    """Add ;alias= with the source address to the first Contact URI, replacing an
    alias it had (so `trim` changes nothing here). geosip edits the message itself, so
    unlike Kamailio the change is also visible to pseudo-variables."""
    src = source(ctx)
    rc = _alias(ctx, src.host, src.port, src.proto, always=True)
    return 1 if rc > 0 else rc


@ksr("handle_ruri_alias", returns="1 $du set from ;alias and the parameter removed, "
                                  "2 no alias, -1 malformed alias")
def handle_ruri_alias(ctx: RequestContext) -> int:
    """Route by the Request-URI's ;alias=ip~port~proto: $du becomes sip:ip:port
    (;transport=x) and the parameter leaves the Request-URI. Screen the alias as you
    would the Request-URI itself: it decides where the request goes."""
    uri = ctx.msg.uri
    if not isinstance(uri, SipUri) or not uri.params.has("alias"):
        return 2
    try:
        ctx.dst_uri = alias_destination(uri.params.get("alias") or "")
    except ValueError as exc:
        log.error("nathelper: handle_ruri_alias: %s", exc)
        return -1
    ctx.msg.uri = uri.replace(params=uri.params.remove("alias"))
    return 1


@ksr("add_rcv_param", "i", returns="1 added, -1 error (flag on a non-UDP message)")
def add_rcv_param(ctx: RequestContext, flag: int) -> int:
    """Add the source URI as received to every Contact: a header parameter
    ;received="sip:ip:port..." (flag 0), or a URI parameter (flag 1, UDP only) for a
    registrar further on (registrar's received_param)."""
    msg = message(ctx)
    src = source(ctx)
    if int(flag) and src.proto != "udp":
        log.error("nathelper: add_rcv_param(1) works only for UDP")
        return -1
    try:
        contacts = msg.contact
    except ParseError:
        return -1
    if not contacts:
        return -1
    value = source_uri(src)
    out = []
    for contact in contacts:
        if int(flag) and isinstance(contact.uri, SipUri):
            uri = contact.uri
            out.append(contact.replace(uri=uri.replace(params=uri.params.set("received",
                                                                             value))))
        else:
            out.append(contact.with_param("received", f'"{value}"'))
    _write_contacts(msg, [str(a) for a in out])
    return 1


def _fix_sdp(ctx: RequestContext, flags: int, ip: str) -> int:
    msg = message(ctx)
    body = msg.body
    if not body:
        log.error("nathelper: fix_nated_sdp: no body")
        return -1
    new_ip = (ip or source(ctx).host).encode("ascii")
    replaced = 0

    def swap(m: re.Match[bytes]) -> bytes:
        nonlocal replaced
        kind = m["head"][:1]
        if not ((kind == b"c" and flags & FIX_MEDIP) or (kind == b"o" and flags & FIX_ORGIP)):
            return m[0]
        if m["v"] != b"4" or m["ip"] in (b"0.0.0.0", new_ip):
            return m[0]   # IPv4 only, as Kamailio; a hold address stays
        replaced += 1
        return m["head"] + new_ip
    body = _SDP_ADDRESS.sub(swap, body)
    eol = b"\r\n" if b"\r\n" in body else b"\n"
    if flags & ADD_ADIRECTION:   # at the end of every media section
        parts = re.split(rb"(?m)(?=^m=)", body)
        body = parts[0] + b"".join(p.rstrip(b"\r\n") + eol + b"a=direction:active" + eol
                                   for p in parts[1:])
    if flags & ADD_ANORTPPROXY and SETTINGS["nortpproxy_str"]:
        body = body.rstrip(b"\r\n") + eol + str(SETTINGS["nortpproxy_str"]).encode().strip() + eol
    if body != msg.body:
        msg.set_body(body)
    return 1 if replaced else 2


@ksr("fix_nated_sdp", "i", returns="1 addresses replaced, 2 none replaced, -1 error")
def fix_nated_sdp(ctx: RequestContext, flags: int) -> int:
    """Fix the SDP for a sender behind NAT: flags 2 rewrite the c= addresses and 8 the
    o= address to the source IP (IPv4 only), 1 add a=direction:active to each media
    section, 4 add the nortpproxy_str line."""
    return _fix_sdp(ctx, int(flags), "")


@ksr("fix_nated_sdp_ip", "is", returns="as fix_nated_sdp")
def fix_nated_sdp_ip(ctx: RequestContext, flags: int, ip: str) -> int:
    """fix_nated_sdp with `ip` instead of the source address."""
    return _fix_sdp(ctx, int(flags), ip.strip())


FUNCTIONS = (nat_uac_test, is_rfc1918, fix_nated_contact, fix_nated_register,
             add_contact_alias, add_contact_alias_addr, set_contact_alias,
             handle_ruri_alias, add_rcv_param, fix_nated_sdp, fix_nated_sdp_ip)
