"""KSR.msilo: m_store and m_dump (Kamailio's msilo README §4; the KEMI names of
msilo.c, mstore/mstore_uri/mstore_addrs/mdump/mdump_uri, are exported as well).

Contract (return codes as Kamailio's msilo.c returns them).
- m_store([owner]): keeps the MESSAGE in the silo table for the AOR of `owner`
  (default: the R-URI), with From URI, To URI, arrival and expiry time, content type,
  body and the extra headers (compose.kept_headers). 1 stored; -1 not stored: no body,
  an owner without a user part, max_messages reached, the database failed. Then, in
  greenlets of their own, the offline notice goes back to the sender (from_address,
  offline_message) and the `msilo:stored` event callback runs. The script answers the
  sender (202 Accepted, as Kamailio's example does).
- m_dump([owner]): delivers the stored messages of `owner` (default: the To URI, the
  AOR a REGISTER registers) in a greenlet of its own (deliver.py), to the binding
  usrloc now has for it. 1: delivery started, or nothing stored; -1: a REGISTER that
  registers no contact accepting MESSAGE (Kamailio's check_message_support: every
  contact expires, or Allow / the methods parameter leave MESSAGE out), a bad owner,
  the database failed.
Both are blocking: they query the database outside Lua (engine.py).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import gevent

from geosip.modules.tm import api as tm
from geosip.script.exports import KsrFunction, ksr
from geosip.script.ksr.hdr import parse_lines
from geosip.script.pvformat import expand
from geosip.sip import parse_uri
from geosip.sip.errors import ParseError
from geosip.sip.uri import SipUri
from geosip.sip.outgoing import new_request

from . import compose, deliver, store
from .config import CORE, SETTINGS, STORED_EVENT, avp_name, inc
from .store import DB_ERRORS

if TYPE_CHECKING:
    from geosip.core.context import RequestContext
    from geosip.sip import Request

log = logging.getLogger("geosip.msilo")

OWNER_AVP = "msilo_owner"
ID_AVP = "msilo_id"


def _owner(uri: str) -> tuple[str, str] | None:
    """(user, host) of a SIP URI with a user part; None otherwise."""
    try:
        parsed = parse_uri(uri.strip())
    except (ParseError, ValueError):
        return None
    if not isinstance(parsed, SipUri) or not parsed.user:
        return None
    return (parsed.user, parsed.host)


def _avp_text(ctx: "RequestContext", param: str) -> str | None:
    name = avp_name(str(SETTINGS[param] or ""))
    values = ctx.script.avps.get(name, []) if name else []
    return values[0] if values and isinstance(values[0], str) else None


def _send_time(ctx: "RequestContext") -> int:
    """snd_time_avp's YYYYMMDDHHMMSS as a time (Kamailio's ms_extract_time: local
    time); 0 when unset or malformed (an ordinary stored message)."""
    text = _avp_text(ctx, "snd_time_avp")
    if not text:
        return 0
    try:
        return int(time.mktime(time.strptime(text, "%Y%m%d%H%M%S")))
    except ValueError:
        log.error("msilo: bad time %r in %s", text[:20], SETTINGS["snd_time_avp"])
        return 0


def _store(ctx: "RequestContext", owner_uri: str | None, src: str = "",
           dst: str = "") -> int:
    msg = ctx.msg
    if not msg.body:
        log.error("msilo: body of the message is empty")
        return -1
    owner = _owner(owner_uri if owner_uri is not None else msg.uri_text)
    if owner is None:
        log.error("msilo: no username for owner %r", owner_uri or msg.uri_text)
        return -1
    now = int(time.time())
    lifetime = int(SETTINGS["expire_time"])
    if msg.expires:  # a shorter Expires of the MESSAGE wins (msilo.c)
        lifetime = min(lifetime, msg.expires)
    # Kamailio keeps the media type only; geosip keeps the whole value (charset...)
    # when it fits the column, so the Content-Type arrives as it was sent.
    ctype = " ".join((msg.content_type or "text/plain").split())
    if len(ctype) > 32:
        ctype = ctype.split(";", 1)[0].strip()
    try:
        if SETTINGS["max_messages"] and \
                store.count(*owner) >= int(SETTINGS["max_messages"]):
            log.error("msilo: too many messages for AoR '%s@%s'", *owner)
            return -1
        message_id = store.insert(
            src_addr=src or str(msg.from_.uri), dst_addr=dst or str(msg.to.uri),
            username=owner[0], domain=owner[1], inc_time=now, exp_time=now + lifetime,
            snd_time=_send_time(ctx), ctype=ctype[:32] or "text/plain", body=msg.body,
            extra_hdrs=_avp_text(ctx, "extra_hdrs_avp") or compose.kept_headers(msg),
            callid=msg.call_id if SETTINGS["use_mode"] & 1 else "")
    except DB_ERRORS as exc:
        log.error("msilo: failed to store message: %s", exc)
        return -1
    inc("msilo:stored_messages")
    log.debug("msilo: message %d stored for %s@%s", message_id, *owner)
    _notify_sender(ctx)
    _stored_event(ctx, message_id, owner)
    return 1


def _notify_sender(ctx: "RequestContext") -> None:
    """Kamailio's offline notice: a MESSAGE back to the sender saying the recipient is
    offline, when from_address and offline_message are set."""
    if not (SETTINGS["from_address"] and SETTINGS["offline_message"]):
        return
    flag = int(SETTINGS["skip_notification_flag"])
    if flag >= 0 and ctx.script.flags & (1 << flag):
        return
    msg = ctx.msg
    sender = str(msg.from_.uri)
    target = sender
    if SETTINGS["use_contact"] and msg.has("contact"):
        try:
            contact = str(msg.contact[0].uri) if msg.contact else ""
        except ParseError:
            contact = ""
        if contact.startswith("sip:"):
            target = contact
    try:
        headers = parse_lines(expand(str(SETTINGS["contact_hdr"]), ctx)
                              + expand(str(SETTINGS["content_type_hdr"]), ctx))
        if headers is None:
            raise ValueError("contact_hdr/content_type_hdr are not header lines")
        notice = new_request("MESSAGE", target, expand(str(SETTINGS["from_address"]), ctx),
                             sender, headers=headers,
                             body=expand(str(SETTINGS["offline_message"]), ctx).encode())
        tm.send_local_later(ctx.core, notice, str(SETTINGS["outbound_proxy"]) or None)
    except ValueError as exc:
        log.warning("msilo: no offline notice to %s: %s", sender, exc)


def _stored_event(ctx: "RequestContext", message_id: int, owner: tuple[str, str]) -> None:
    """Run event_callback("msilo:stored") later, in a greenlet of its own, on a copy of
    the stored MESSAGE with $avp(msilo_id) and $avp(msilo_owner)."""
    fname = str(SETTINGS["event_callback"] or "")
    if not fname:
        return
    core = ctx.core
    copy: "Request" = ctx.msg.copy()  # type: ignore[assignment]

    def run() -> None:
        event_ctx = core.local_context(copy)
        event_ctx.script.avps[ID_AVP] = [message_id]
        event_ctx.script.avps[OWNER_AVP] = [f"sip:{owner[0]}@{owner[1]}"]
        if not core.run_event(fname, STORED_EVENT, event_ctx):
            log.error("msilo: the script defines no function %s()", fname)
    gevent.spawn(run)


# ---- m_dump ------------------------------------------------------------------------


def _accepts_message(msg: "Request") -> bool:
    """Kamailio's check_message_support: some contact with a positive expires lists
    MESSAGE in its methods parameter, or has none while Allow lists MESSAGE (or there
    is no Allow at all)."""
    try:
        contacts = msg.contact
    except ParseError:
        return False
    if not contacts:
        return False
    allow = [m.upper() for m in msg.tokens("allow")] if msg.has("allow") else None
    default_expires = msg.expires if msg.expires is not None else 1
    for contact in contacts:
        expires = contact.params.get("expires") if contact.params else None
        try:
            seconds = int(expires) if expires is not None else default_expires
        except ValueError:
            seconds = 0
        if seconds <= 0:
            continue
        methods = contact.params.get("methods") if contact.params else None
        if methods is not None:
            if "MESSAGE" in methods.strip('"').upper().replace(" ", "").split(","):
                return True
        elif allow is None or "MESSAGE" in allow:
            return True
    return False


def _first_hop(ctx: "RequestContext") -> deliver.Hop | None:
    """The REGISTER's first contact: where to deliver when usrloc knows no binding."""
    try:
        contacts = ctx.msg.contact
    except ParseError:
        return None
    return (str(contacts[0].uri), None) if contacts else None


def _dump(ctx: "RequestContext", owner_uri: str | None) -> int:
    msg = ctx.msg
    if msg.method == "REGISTER" and not _accepts_message(msg):
        log.debug("msilo: MESSAGE method not supported by the registered contacts")
        return -1
    owner = _owner(owner_uri if owner_uri is not None else str(msg.to.uri))
    if owner is None or not owner[1]:
        log.error("msilo: bad owner URI %r", owner_uri)
        return -1
    if not CORE:
        CORE.append(ctx.core)  # no start() (tests of the functions alone)
    try:
        waiting = store.pending(*owner, int(time.time()))
    except DB_ERRORS as exc:
        log.error("msilo: failed to query database: %s", exc)
        return -1
    if waiting:
        extra = expand(str(SETTINGS["extra_hdrs"]), ctx) if SETTINGS["extra_hdrs"] else ""
        deliver.dump(owner, _first_hop(ctx) if msg.method == "REGISTER" else None, extra)
    return 1


STORE_RETURNS = ("1 stored; -1 not stored (no body, owner without a user, max_messages "
                 "reached, database error)")
DUMP_RETURNS = ("1 delivery started (or nothing stored); -1 a REGISTER without a contact "
                "accepting MESSAGE, a bad owner, a database error")


@ksr("m_store", blocking=True, returns=STORE_RETURNS)
def m_store(ctx: "RequestContext") -> int:
    """Store the MESSAGE for the AOR of the R-URI (Kamailio's m_store())."""
    return _store(ctx, None)


@ksr("m_store_addr", "s", blocking=True, returns=STORE_RETURNS)
def m_store_addr(ctx: "RequestContext", owner: str) -> int:
    """Store the MESSAGE for the AOR of `owner` (Kamailio's m_store(owner), KEMI
    mstore_uri)."""
    return _store(ctx, owner)


@ksr("m_dump", blocking=True, returns=DUMP_RETURNS)
def m_dump(ctx: "RequestContext") -> int:
    """Deliver the messages stored for the AOR of the To URI (call it after
    registrar.save on a REGISTER)."""
    return _dump(ctx, None)


@ksr("m_dump_uri", "s", blocking=True, returns=DUMP_RETURNS)
def m_dump_uri(ctx: "RequestContext", owner: str) -> int:
    """Deliver the messages stored for the AOR of `owner` (Kamailio's m_dump(owner))."""
    return _dump(ctx, owner)


@ksr("mstore_addrs", "sss", blocking=True, returns=STORE_RETURNS)
def mstore_addrs(ctx: "RequestContext", owner: str, src: str, dst: str) -> int:
    """Store for `owner` with `src` and `dst` as the stored From and To addresses
    (empty: the request's); Kamailio's m_store_addrs."""
    return _store(ctx, owner, src, dst)


def _alias(name: str, of: KsrFunction) -> KsrFunction:
    return dataclasses.replace(of, name=name, doc=f"Kamailio's KEMI name of {of.name}.")


FUNCTIONS = (m_store, m_store_addr, m_dump, m_dump_uri, mstore_addrs,
             _alias("mstore", m_store), _alias("mstore_uri", m_store_addr),
             _alias("mdump", m_dump), _alias("mdump_uri", m_dump_uri))
