"""KSR.uac.uac_replace_from/to(_uri), uac_restore_from/to (Kamailio's uac README
§4.1-4.6, replace.c).

What geosip supports (README.md says the same):
- uac_replace_from(display, uri) / uac_replace_to(display, uri): the From/To of the
  requests that leave for this transaction (every branch relayed afterwards, and
  forward()) get the new URI ("" keeps it) and display name (written as given, no
  quotes added; "" removes it); the tag and other parameters stay. As with Kamailio's
  lumps, the request the script reads ($fu, $tu) is unchanged. uac_replace_from_uri /
  uac_replace_to_uri change the URI only. A second call for the same header replaces
  the first (Kamailio refuses to apply two).
- Replies of the same transaction get the original From/To back before the reply
  routes run and before they go upstream (dialog-less restore: Kamailio's "manual"
  mode for replies); local replies never had the new values.
- With restore_mode "manual" or "auto" (the default) and a record-routed initial
  request, our Record-Route carries ";vsf=" / ";vst=" (the rr_from_store_param /
  rr_to_store_param names): the two URIs XOR-ed (and with restore_passwd when set),
  base64url. uac_restore_from()/uac_restore_to() in a later request of the dialog,
  after loose_route(), swap the URI of the header holding that party (From when the
  request flows downstream, i.e. the Route's ftag is the From tag; To otherwise) to
  the other value, and restore its replies the same way. "auto" does not run them by
  itself: call them after loose_route(). Not interoperable with Kamailio's encoding.

How: the changes are kept in ctx.script.extra[STATE] and applied by a send handler
wrapped around the script's (ctx.send_handler: run before each request leaves, so
CANCELs built from the branch match it) and a reply handler wrapped around the
script's (ctx.reply_handler). Both wrappers are (re)installed by the calls here and
on every send, so a t_on_reply() armed before the relay keeps the restore; one armed
after the last relay of a route replaces it.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

from geosip.modules.rr import rr
from geosip.script.exports import ksr
from geosip.sip import Address, ParseError, Request, Response, parse_address, parse_uri

from . import config

if TYPE_CHECKING:
    from geosip.core.context import RequestContext
    from geosip.transport.base import Endpoint, Listener

log = logging.getLogger("geosip.uac")

STATE = "uac:replace"   # ctx.script.extra: {"from"|"to": (original value, new value)}
_HEADER = {"from": "From", "to": "To"}


# ---- the new header value ------------------------------------------------------------------

def _new_value(current: Address, display: str | None, uri: str) -> str:
    """The header value with `uri` ("" keeps it) and `display` (None keeps it, "" drops
    it, else written as given); parameters (the tag) stay. ParseError when the result
    is not a valid name-addr."""
    new_uri = str(parse_uri(uri)) if uri else str(current.uri)
    if display is None:
        value = str(current.replace(uri=parse_uri(new_uri))) if uri else str(current)
    else:
        value = f"{display} <{new_uri}>{current.params}" if display else \
            f"<{new_uri}>{current.params}"
    parse_address(value)  # refuse what would not read back
    return value


def _header_value(msg: Request | Response, which: str) -> str:
    value = msg.header(_HEADER[which])
    if value is None:
        raise ParseError(f"no {_HEADER[which]} header")
    return value


# ---- the hooks -------------------------------------------------------------------------------

class _SendHook:
    """Applies the replacements to a request about to leave, then runs the script's
    send handler (onsend_route) on it."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, ctx: "RequestContext", request: Request, dest: "Endpoint",
                 listener: "Listener") -> bool:
        state = ctx.script.extra.get(STATE)
        if isinstance(state, dict):
            for which, (_, new) in state.items():
                if request.header(_HEADER[which]) != new:
                    request.set_header(_HEADER[which], new)
        _install(ctx)  # a t_on_reply armed since the last send: wrap it too
        return True if self.inner is None else self.inner(ctx, request, dest, listener)


class _ReplyHook:
    """Puts the original From/To back into a reply, then runs the script's reply
    handler (reply routes)."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, ctx: "RequestContext", response: Response) -> bool:
        state = ctx.script.extra.get(STATE)
        if isinstance(state, dict):
            for which, (original, _) in state.items():
                _restore(response, which, original)
        return True if self.inner is None else self.inner(ctx, response)


def _restore(response: Response, which: str, original: str) -> None:
    try:
        value = original
        if which == "to":  # the reply's To carries the UAS's tag: keep it
            tag = response.to_tag
            address = parse_address(original)
            if tag and address.tag != tag:
                value = str(address.with_param("tag", tag))
        if response.header(_HEADER[which]) != value:
            response.set_header(_HEADER[which], value)
    except ParseError as exc:
        log.info("uac: cannot restore %s in %s: %s", _HEADER[which], response, exc)


def _install(ctx: "RequestContext") -> None:
    if not isinstance(ctx.send_handler, _SendHook):
        ctx.send_handler = _SendHook(ctx.send_handler)
    if not isinstance(ctx.reply_handler, _ReplyHook):
        ctx.reply_handler = _ReplyHook(ctx.reply_handler)


def _remember(ctx: "RequestContext", which: str, original: str, new: str) -> None:
    state = ctx.script.extra.setdefault(STATE, {})
    assert isinstance(state, dict)
    earlier = state.get(which)
    state[which] = (earlier[0] if earlier else original, new)
    _install(ctx)


# ---- the Record-Route parameter (vsf / vst) --------------------------------------------------

def _key() -> bytes:
    return str(config.SETTINGS.get("restore_passwd") or "").encode()


def _xor(a: bytes, b: bytes) -> bytes:
    size = max(len(a), len(b))
    a, b = a.ljust(size, b"\0"), b.ljust(size, b"\0")
    out = bytes(x ^ y for x, y in zip(a, b))
    key = _key()
    if key:
        out = bytes(x ^ key[i % len(key)] for i, x in enumerate(out))
    return out


def encode_pair(old: str, new: str) -> str:
    return base64.urlsafe_b64encode(_xor(old.encode(), new.encode())).decode().rstrip("=")


def decode_other(param: str, one: str) -> str | None:
    """Given the parameter and one of the two URIs, the other; None if malformed."""
    try:
        data = base64.urlsafe_b64decode(param + "=" * (-len(param) % 4))
    except ValueError:
        return None
    key = _key()
    if key:
        data = bytes(x ^ key[i % len(key)] for i, x in enumerate(data))
    one_b = one.encode().ljust(len(data), b"\0")
    if len(one_b) > len(data):
        return None
    other = bytes(x ^ y for x, y in zip(data, one_b)).rstrip(b"\0")
    try:
        return other.decode()
    except UnicodeDecodeError:
        return None


def _param_name(which: str) -> str:
    return str(config.SETTINGS.get("rr_from_store_param" if which == "from"
                                   else "rr_to_store_param"))


def _store_in_rr(ctx: "RequestContext", which: str, old_uri: str, new_uri: str) -> None:
    """Initial requests: carry the pair in our Record-Route for uac_restore_*."""
    if config.SETTINGS.get("restore_mode") == "none" or ctx.msg.to_tag is not None:
        return
    if old_uri == new_uri:
        return
    rr.add_rr_param.fn(ctx, f";{_param_name(which)}={encode_pair(old_uri, new_uri)}")


# ---- KSR functions ---------------------------------------------------------------------------

def replace(ctx: "RequestContext", which: str, display: str | None, uri: str) -> bool:
    request = ctx.msg
    try:
        original = _header_value(request, which)
        current = parse_address(original)
        new = _new_value(current, display, uri)
    except ParseError as exc:
        log.error("uac_replace_%s: %s", which, exc)
        return False
    _remember(ctx, which, original, new)
    _store_in_rr(ctx, which, str(current.uri), str(parse_address(new).uri))
    return True


@ksr("uac_replace_from", "ss", returns="1 done; -1 bad URI or From")
def uac_replace_from(ctx: "RequestContext", display: str, uri: str) -> bool:
    """Send From with this display name ("" none) and URI ("" unchanged)."""
    return replace(ctx, "from", display, uri)


@ksr("uac_replace_from_uri", "s", returns="1 done; -1 bad URI or From")
def uac_replace_from_uri(ctx: "RequestContext", uri: str) -> bool:
    """Send From with this URI, keeping its display name."""
    return replace(ctx, "from", None, uri)


@ksr("uac_replace_to", "ss", returns="1 done; -1 bad URI or To")
def uac_replace_to(ctx: "RequestContext", display: str, uri: str) -> bool:
    """Send To with this display name ("" none) and URI ("" unchanged)."""
    return replace(ctx, "to", display, uri)


@ksr("uac_replace_to_uri", "s", returns="1 done; -1 bad URI or To")
def uac_replace_to_uri(ctx: "RequestContext", uri: str) -> bool:
    """Send To with this URI, keeping its display name."""
    return replace(ctx, "to", None, uri)


def restore(ctx: "RequestContext", which: str) -> bool:
    local = ctx.script.extra.get(rr.LOCAL)
    param = getattr(local, "params", None)
    value = param.get(_param_name(which)) if param is not None else None
    if not value:
        return False
    request = ctx.msg
    # The party whose URI was replaced: in From when the request flows the way the
    # initial one did (the Route's ftag is the From tag), else in To (RFC 3261 §12.2.1.1).
    ftag = param.get("ftag")
    downstream = ftag is None or ftag == request.from_tag
    header = which if downstream else ("to" if which == "from" else "from")
    try:
        original = _header_value(request, header)
        address = parse_address(original)
    except ParseError as exc:
        log.error("uac_restore_%s: %s", which, exc)
        return False
    other = decode_other(value, str(address.uri))
    if other is None:
        log.error("uac_restore_%s: malformed %s parameter", which, _param_name(which))
        return False
    try:
        new = _new_value(address, None, other)
    except ParseError as exc:
        log.error("uac_restore_%s: %s", which, exc)
        return False
    _remember(ctx, header, original, new)
    return True


@ksr("uac_restore_from", returns="1 From will be swapped; -1 no vsf parameter in the "
                                 "Route loose_route() consumed, or a malformed one")
def uac_restore_from(ctx: "RequestContext") -> bool:
    """In a request of the dialog, after loose_route(): the URI uac_replace_from
    changed goes back to what each side knows (see the module docs)."""
    return restore(ctx, "from")


@ksr("uac_restore_to", returns="1 To will be swapped; -1 no vst parameter, or malformed")
def uac_restore_to(ctx: "RequestContext") -> bool:
    """As uac_restore_from, for the URI uac_replace_to changed."""
    return restore(ctx, "to")


FUNCTIONS = (uac_replace_from, uac_replace_from_uri, uac_replace_to, uac_replace_to_uri,
             uac_restore_from, uac_restore_to)
