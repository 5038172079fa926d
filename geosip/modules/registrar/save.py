"""KSR.registrar.save: a REGISTER updates the bindings of its AOR (RFC 3261 §10.3).

Contract: the request is checked whole before anything changes (Kamailio does the
same): a bad Contact/Expires/q answers 400, an expires below min_expires 423 (with
min_expires_mode 1; mode 0 raises it to min_expires as Kamailio does by default),
Path without `Supported: path` in strict path_mode 420, a Call-ID reused with a CSeq
below the binding's 400 "Invalid CSeq number" (§10.3 step 7: the update is aborted;
an equal CSeq is a retransmission and leaves the binding alone, as in Kamailio),
more than max_contacts live bindings 503 "Too many registered contacts".
Then the bindings are written and the 200 lists every live binding with its remaining
expires (§10.3 step 8). Replies go through the request's transaction when it has one.
Return codes (Kamailio's): 1 bindings inserted, 2 only updated, 3 only removed,
4 a query (no Contact), -1 refused or error (the reply says why; flag 0x02 sends none).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, cast

from geosip.modules.nathelper import api as nat
from geosip.modules.tm import api as tm
from geosip.modules.usrloc import api as ul
from geosip.script import pv
from geosip.script.exports import ksr
from geosip.sip import SipUri
from geosip.sip.address import Address
from geosip.sip.errors import ParseError

from .aor import SETTINGS, aor_key

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.registrar")

# save() flags (Kamailio's REG_SAVE_*_FL)
SAVE_MEMORY = 0x01    # do not write to the database (always true in db_mode 0)
SAVE_NOREPLY = 0x02   # send no reply; the script answers
SAVE_REPLACE = 0x04   # the request's contacts replace every other binding of the AOR

INSERTED, UPDATED, REMOVED, QUERIED = 1, 2, 3, 4


class Refused(Exception):
    """The REGISTER is refused with `status` `reason` (+ `headers`)."""

    def __init__(self, status: int, reason: str,
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.headers = status, reason, headers or []


def _answer(ctx: "RequestContext", flags: int, status: int, reason: str,
            headers: list[tuple[str, str]]) -> None:
    if flags & SAVE_NOREPLY:
        return
    queued = cast("list[tuple[str, str]]", ctx.script.extra.get(tm.REPLY_HEADERS, []))
    ctx.reply(status, reason, [*queued, *headers])


def _unquote(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _q(address: Address) -> float:
    text = address.params.get("q")
    if text is None:
        return float(SETTINGS["default_q"]) / 1000 if SETTINGS["default_q"] >= 0 else -1.0
    try:
        q = float(text)
    except ValueError:
        raise Refused(400, "Invalid q value") from None
    if not 0 <= q <= 1:
        raise Refused(400, "Invalid q value")
    return q


def _expires(address: Address, header: int | None) -> int:
    """Seconds asked for: the contact's expires param, else the Expires header, else
    default_expires; then min/max_expires applied (0 stays 0: a removal)."""
    text = address.params.get("expires")
    if text is not None:
        try:
            expires = int(text)
        except ValueError:
            raise Refused(400, "Invalid expires param in contact") from None
        if expires < 0:
            raise Refused(400, "Invalid expires param in contact")
    else:
        expires = int(SETTINGS["default_expires"]) if header is None else header
    if expires == 0:
        return 0
    low, high = int(SETTINGS["min_expires"]), int(SETTINGS["max_expires"])
    if low and expires < low:
        if SETTINGS["min_expires_mode"]:
            # RFC 3261 §10.3 step 7 / §21.4.17
            raise Refused(423, "Interval Too Brief", [("Min-Expires", str(low))])
        expires = low
    if high and expires > high:
        expires = high
    return expires


def _methods(ctx: "RequestContext", address: Address) -> frozenset[str] | None:
    text = _unquote(address.params.get("methods"))
    if text is None:
        allow = ctx.msg.values("allow")
        if not allow:
            return None
        text = ",".join(allow)
    return frozenset(m.strip().upper() for m in text.split(",") if m.strip())


def _received(ctx: "RequestContext", address: Address) -> str | None:
    """Where the REGISTER came from, for a client behind NAT: lookup then sends there
    ($du) instead of to its Contact. As Kamailio's registrar: the received_avp that
    nathelper's fix_nated_register() set, else the contact's received_param (nathelper's
    add_rcv_param at a proxy in front). Else NAT is detected as Kamailio's default
    configuration does with nat_uac_test(19) before fix_nated_register(): a private
    (RFC 1918/6598) Contact host, or a top Via whose sent-by is not the source
    address (flags 2 and 16)."""
    avp = str(SETTINGS["received_avp"] or "")
    if avp:
        stored = pv.parse(avp).get(ctx)
        if isinstance(stored, str) and stored:
            return stored
    param = str(SETTINGS["received_param"] or "")
    if param:
        uri_params = address.uri.params if isinstance(address.uri, SipUri) else None
        value = _unquote(address.params.get(param)
                         or (uri_params.get(param) if uri_params is not None else None))
        if value:
            return value
    source = ctx.inbound.source
    via = ctx.msg.top_via
    behind_nat = (nat.is_private(getattr(address.uri, "host", ""))
                  or via.host.strip("[]") != source.host or (via.port or 5060) != source.port)
    if not behind_nat:
        return None
    return nat.source_uri(source)


def _path(ctx: "RequestContext") -> tuple[str, ...]:
    if not SETTINGS["use_path"] or not ctx.msg.has("path"):
        return ()
    supported = [t.lower() for t in ctx.msg.tokens("supported")]
    if SETTINGS["path_mode"] == 2 and "path" not in supported:
        # RFC 3327 §5.3: a registrar that needs the UA to know of Path refuses it
        raise Refused(420, "Bad Extension", [("Unsupported", "path")])
    return tuple(str(a.uri) for a in ctx.msg.path)


def _contact_line(c: ul.Contact, now: float) -> str:
    line = f"<{c.contact}>;expires={c.remaining(now)}"
    if c.q >= 0:
        line += f";q={c.q:.3g}"
    if c.instance is not None:
        line += f';+sip.instance="{c.instance}"'
        if c.reg_id:
            line += f";reg-id={c.reg_id}"
    return line


def _build(ctx: "RequestContext", aor: str, now: float) -> list[tuple[str, ul.Contact]]:
    """('save'|'remove', binding) for each Contact of the request; raises Refused."""
    msg = ctx.msg
    try:
        contacts = msg.contact
        header = msg.expires
    except ParseError as exc:
        raise Refused(400, f"Bad request: {exc}"[:80]) from None
    path = _path(ctx)
    socket = f"{ctx.inbound.listener.proto}:{ctx.inbound.listener.local.host}:" \
             f"{ctx.inbound.listener.local.port}"
    user_agent = msg.header("user-agent") or ""
    callid, cseq = msg.call_id, msg.cseq.number
    out = []
    for address in contacts:
        expires = _expires(address, header)
        instance = _unquote(address.params.get("+sip.instance"))
        reg_id_text = address.params.get("reg-id")
        try:
            reg_id = int(reg_id_text) if reg_id_text is not None else 0
        except ValueError:
            raise Refused(400, "Invalid reg-id") from None
        binding = ul.Contact(
            aor=aor, contact=str(address.uri), expires=now + expires, q=_q(address),
            callid=callid, cseq=cseq, received=_received(ctx, address), path=path,
            user_agent=user_agent, socket=socket, instance=instance, reg_id=reg_id,
            flags=ul.FL_MEM, last_modified=now, methods=_methods(ctx, address))
        out.append(("remove" if expires == 0 else "save", binding))
    return out


def _check_order(location: ul.Location,
                 changes: list[tuple[str, ul.Contact]]) -> list[tuple[str, ul.Contact]]:
    """RFC 3261 §10.3 step 7: a binding with the same Call-ID needs a higher CSeq, else
    the request fails. As in Kamailio's usrloc (get_ucontact: -2 "to be skipped"), an
    equal CSeq is a retransmission: that binding is left as it is and the 200 sent
    again. Returns the changes to apply."""
    kept = []
    for op, binding in changes:
        old = location.get(binding.aor, binding.key)
        if old is not None and old.callid == binding.callid and binding.cseq <= old.cseq:
            if binding.cseq == old.cseq:
                continue
            log.warning("registrar: CSeq %d below %d for %s (Call-ID %s)",
                        binding.cseq, old.cseq, binding.contact, binding.callid)
            raise Refused(400, "Invalid CSeq number")
        kept.append((op, binding))
    return kept


@ksr("save", "si", blocking=True,
     returns="1 contacts inserted, 2 updated, 3 removed, 4 query (contacts returned); "
             "-1 error or refused (answered unless flag 0x02)")
def save(ctx: "RequestContext", table: str, flags: int) -> int:
    """Process a REGISTER: update the bindings of the To AOR in usrloc table `table`
    and answer (flags: 0x01 memory only, 0x02 no reply, 0x04 replace all others)."""
    flags = int(flags)
    msg = ctx.msg
    if msg.method != "REGISTER":
        log.error("registrar: save() on a %s", msg.method)
        return -1
    now = time.time()
    location = ul.table(table)
    try:
        aor = aor_key(msg.to.uri)
        if aor is None:
            raise Refused(400, "Bad To header")
        if msg.is_contact_star:
            # RFC 3261 §10.3 step 6: '*' only alone and with Expires: 0
            if len(msg.values("contact")) != 1 or msg.expires != 0:
                raise Refused(400, "Invalid * contact")
            removed = location.delete(aor)
            _answer(ctx, flags, 200, "OK", [])
            log.debug("registrar: %s unregistered (%d bindings)", aor, removed)
            return REMOVED
        asked = _build(ctx, aor, now)
        changes = _check_order(location, asked)
        current = {c.key for c in location.lookup(aor, now)}
        if flags & SAVE_REPLACE:
            current = set()
        after = (current | {b.key for op, b in changes if op == "save"}) - \
            {b.key for op, b in changes if op == "remove"}
        limit = int(SETTINGS["max_contacts"])
        if limit and len(after) > limit:
            raise Refused(503, "Too many registered contacts")
    except Refused as refused:
        log.info("registrar: REGISTER %s refused: %d %s", msg.call_id, refused.status,
                 refused.reason)
        _answer(ctx, flags, refused.status, refused.reason, refused.headers)
        return -1
    code = QUERIED if not asked else UPDATED if not changes else REMOVED
    if flags & SAVE_REPLACE and changes:
        location.delete(aor)
    for op, binding in changes:
        existed = location.get(aor, binding.key) is not None
        if op == "remove":
            location.delete(aor, binding.key)
            continue
        location.save(binding)
        if not existed:
            code = INSERTED
        elif code != INSERTED:
            code = UPDATED
    bindings = location.lookup(aor, now)
    headers = [("Contact", _contact_line(c, now)) for c in bindings]
    if SETTINGS["use_path"] and SETTINGS["path_mode"] != 0 and msg.has("path") and \
            "path" in [t.lower() for t in msg.tokens("supported")]:
        # RFC 3327 §5.3: the 200 echoes the Path, for a UA that supports it
        headers.extend(("Path", v) for v in msg.values("path"))
    _answer(ctx, flags, 200, "OK", headers)
    return code


FUNCTIONS = (save,)
