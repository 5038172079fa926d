"""KSR.auth.www_challenge / proxy_challenge / auth_challenge: answer 401 with
WWW-Authenticate or 407 with Proxy-Authenticate (RFC 3261 §22.1, §22.3) carrying a
fresh nonce (nonce.py), the configured algorithm (MD5, or SHA-256 / SHA-512-256 as
RFC 8760 adds) and the qop the flags ask for.

Flags (Kamailio's): 1 qop="auth"; 2 qop="auth-int" (wins over 1); 4 accepted, no
effect (geosip sends no 500 of its own from here); 16 always stale=true; 32 never
stale=true. Without 16/32, stale=true is sent when this request's credentials had an
expired or reused nonce (credentials.pre_auth marked it), as Kamailio does.
Realm "": the To host for REGISTER, the From host otherwise (credentials.default_realm).
Returns 1 when the challenge was sent, -1 when it could not be (already answered,
an ACK).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from geosip.modules.tm import api as tm
from geosip.script.exports import ksr
from geosip.sip import digest

from .config import RUNTIME, SETTINGS
from .credentials import STALE, default_realm

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

QOP_AUTH = 1
QOP_AUTH_INT = 2
NO_500 = 4
FORCE_STALE = 16
NO_STALE = 32

WWW = (401, "Unauthorized", "WWW-Authenticate")
PROXY = (407, "Proxy Authentication Required", "Proxy-Authenticate")


def build(ctx: "RequestContext", realm: str, flags: int, now: float | None = None) -> str:
    """The challenge header value for this request."""
    qop: tuple[str, ...] = ()
    if flags & QOP_AUTH_INT:
        qop = ("auth-int",)
    elif flags & QOP_AUTH:
        qop = ("auth",)
    stale = bool(flags & FORCE_STALE) or (
        not flags & NO_STALE and bool(ctx.script.extra.get(STALE)))
    nonce = RUNTIME.codec.issue(time.time() if now is None else now)
    return digest.format_challenge(digest.Challenge(
        realm=realm or default_realm(ctx), nonce=nonce,
        algorithm=str(SETTINGS["algorithm"]), qop=qop, stale=stale))


def send(ctx: "RequestContext", realm: str, flags: int,
         kind: tuple[int, str, str]) -> bool:
    if ctx.msg.method == "ACK" or ctx.replied:
        return False
    status, reason, header = kind
    # as registrar's replies: the headers queued with KSR.hdr.append_to_reply go too
    queued = cast("list[tuple[str, str]]", ctx.script.extra.get(tm.REPLY_HEADERS, []))
    return bool(ctx.reply(status, reason,
                          [*queued, (header, build(ctx, realm, int(flags)))]))


@ksr("www_challenge", "si", blocking=True,
     returns="1 401 sent with WWW-Authenticate; -1 not sent (ACK, or already answered)")
def www_challenge(ctx: "RequestContext", realm: str, flags: int) -> bool:
    """Challenge with 401 Unauthorized (a registrar or UAS, RFC 3261 §22.1)."""
    return send(ctx, realm, flags, WWW)


@ksr("proxy_challenge", "si", blocking=True,
     returns="1 407 sent with Proxy-Authenticate; -1 not sent (ACK, or already answered)")
def proxy_challenge(ctx: "RequestContext", realm: str, flags: int) -> bool:
    """Challenge with 407 Proxy Authentication Required (a proxy, RFC 3261 §22.3)."""
    return send(ctx, realm, flags, PROXY)


@ksr("auth_challenge", "si", blocking=True,
     returns="as www_challenge for REGISTER, as proxy_challenge for other methods")
def auth_challenge(ctx: "RequestContext", realm: str, flags: int) -> bool:
    """401 for REGISTER, 407 for anything else."""
    return send(ctx, realm, flags, WWW if ctx.msg.method == "REGISTER" else PROXY)


FUNCTIONS = (www_challenge, proxy_challenge, auth_challenge)
