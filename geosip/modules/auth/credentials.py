"""Finding and checking the digest credentials of a request, the half of digest
authentication that needs no password store (Kamailio auth's pre_auth/post_auth);
backends (auth_db) call these through api.py and add the password check between.

Contract of pre_auth(ctx, realm, header):
  ACK and CANCEL -> AUTH_OK (they cannot be challenged, RFC 3261 §22.1).
  The first `header` value whose realm is `realm` is used; none -> AUTH_NO_CREDENTIALS.
  A value that does not parse, a scheme other than Digest, userhash, an algorithm
  other than the configured one, a qop other than auth/auth-int, or a nonce we did
  not issue -> AUTH_ERROR. An expired nonce -> AUTH_STALE_NONCE; an nc not above the
  last accepted one (nonce_count 1), or a no-qop nonce used twice (one_time_nonce 1)
  -> AUTH_NONCE_REUSED; both mark the request so the next challenge says stale=true
  (as Kamailio marks them, so the UA retries with a new nonce and not a new password).
  Else DO_AUTHENTICATION with the parsed Credentials.
post_auth(ctx, header, value, cred) records the accepted nc (AUTH_NONCE_REUSED if a
concurrent request took it first) and remembers the header for consume_credentials.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from geosip.script.exports import ksr
from geosip.script.pv import CONSUMED
from geosip.sip import digest
from geosip.sip.errors import ParseError

from . import codes
from .config import RUNTIME, SETTINGS
from .nonce import NonceState

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.auth")

STALE = "auth_stale"   # ctx.script.extra: the credentials had a stale or reused nonce
USED = "auth_used"     # ctx.script.extra: (header, value) that authenticated the request


def default_realm(ctx: "RequestContext") -> str:
    """Kamailio's realm for "": the To host of a REGISTER (the user registering), the
    From host of anything else."""
    msg = ctx.msg
    address = msg.to if msg.method == "REGISTER" else msg.from_
    return getattr(address.uri, "host", "") or ""


def header_for(ctx: "RequestContext") -> str:
    """Authorization for REGISTER (answers a 401), Proxy-Authorization otherwise."""
    return "Authorization" if ctx.msg.method == "REGISTER" else "Proxy-Authorization"


def find(ctx: "RequestContext", realm: str,
         header: str) -> tuple[str, digest.Credentials] | None:
    """The first `header` value with Digest credentials for `realm`. Raises
    ParseError for a value that does not parse."""
    for value in ctx.msg.header_all(header):
        cred = digest.parse_credentials(value)
        if cred.is_digest and cred.realm == realm:
            return value, cred
    return None


def _algorithm_ok(cred: digest.Credentials) -> bool:
    return (cred.algorithm or "MD5").lower() == str(SETTINGS["algorithm"]).lower()


def pre_auth(ctx: "RequestContext", realm: str, header: str,
             now: float | None = None) -> tuple[int, str | None, digest.Credentials | None]:
    """(code, header value, credentials); see the module docstring."""
    if ctx.msg.method in ("ACK", "CANCEL"):
        return codes.AUTH_OK, None, None
    try:
        found = find(ctx, realm, header)
    except ParseError as exc:
        log.info("malformed %s: %s", header, exc)
        return codes.AUTH_ERROR, None, None
    if found is None:
        return codes.AUTH_NO_CREDENTIALS, None, None
    value, cred = found
    if cred.userhash or not _algorithm_ok(cred) or (
            cred.qop is not None and cred.qop.lower() not in ("auth", "auth-int")):
        log.info("unsupported credentials from %s: algorithm %s qop %s userhash %s",
                 cred.username, cred.algorithm, cred.qop, cred.userhash)
        return codes.AUTH_ERROR, value, cred
    now = time.time() if now is None else now
    state = RUNTIME.codec.check(cred.nonce, now)
    if state is NonceState.INVALID:
        log.info("nonce not issued by us from %s", cred.username)
        return codes.AUTH_ERROR, value, cred
    ts = RUNTIME.codec.issued_at(cred.nonce)
    assert ts is not None
    tracked = _tracked_nc(cred)
    if state is NonceState.STALE or (
            tracked is not None and RUNTIME.counts.forgotten(cred.nonce, ts)):
        ctx.script.extra[STALE] = True
        return codes.AUTH_STALE_NONCE, value, cred
    if tracked is not None and not RUNTIME.counts.fresh(cred.nonce, tracked):
        ctx.script.extra[STALE] = True
        return codes.AUTH_NONCE_REUSED, value, cred
    return codes.DO_AUTHENTICATION, value, cred


def _tracked_nc(cred: digest.Credentials) -> int | None:
    """The nc to check and record, or None when this nonce use is not tracked."""
    if SETTINGS["nonce_count"] and cred.qop is not None and cred.nc is not None:
        return int(cred.nc, 16)
    return 0 if SETTINGS["one_time_nonce"] else None


def post_auth(ctx: "RequestContext", header: str, value: str,
              cred: digest.Credentials) -> int:
    """After the password matched: AUTH_OK, or AUTH_NONCE_REUSED when the nc was
    taken by a concurrent request while the backend looked the user up."""
    tracked = _tracked_nc(cred)
    if tracked is not None:
        ts = RUNTIME.codec.issued_at(cred.nonce)
        assert ts is not None
        if not RUNTIME.counts.accept(cred.nonce, ts, tracked):
            ctx.script.extra[STALE] = True
            return codes.AUTH_NONCE_REUSED
    ctx.script.extra[USED] = (header, value)
    return codes.AUTH_OK


@ksr("has_credentials", "s", returns="1 the request carries Digest credentials "
     "(Authorization or Proxy-Authorization) for realm; -1 not")
def has_credentials(ctx: "RequestContext", realm: str) -> bool:
    """Whether the request has credentials for `realm` ("" = the default realm)."""
    realm = realm or default_realm(ctx)
    for header in ("Authorization", "Proxy-Authorization"):
        try:
            if find(ctx, realm, header) is not None:
                return True
        except ParseError:
            continue
    return False


@ksr("consume_credentials", returns="1 removed; -1 no request authenticated "
     "(no successful auth_check/www_authenticate/proxy_authenticate before)")
def consume_credentials(ctx: "RequestContext") -> bool:
    """Remove the credentials header that authenticated the request, so it is not
    forwarded. $au/$ar/$ad/$aU still read it afterwards, as in Kamailio (the value is
    kept for them: geosip.script.pv CONSUMED)."""
    used = ctx.script.extra.get(USED)
    if not isinstance(used, tuple):
        return False
    header, value = used
    msg = ctx.msg
    values = msg.header_all(header)
    if value not in values:
        return False
    values.remove(value)
    msg.remove_header(header)
    for rest in values:   # the others keep their order (among themselves)
        msg.add_header(header, rest)
    ctx.script.extra[CONSUMED] = ctx.script.extra.pop(USED)
    return True


FUNCTIONS = (has_credentials, consume_credentials)
