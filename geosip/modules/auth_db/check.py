"""KSR.auth_db.auth_check / www_authenticate / proxy_authenticate: Kamailio auth_db's
digest_authenticate over auth's pre_auth/post_auth (geosip.modules.auth.api).

Contract: pre_auth finds and checks the credentials for the realm (no credentials,
malformed, stale, forged or replayed nonce); then the user's HA1 is read
(lookup.py: unknown user -3) and the response checked with geosip.sip.digest.verify
(-2 on mismatch; an HA1 of the wrong length for the algorithm is -1); then post_auth
records the nc. Return codes are Kamailio's (auth.codes): 1 ok, -1 error, -2 invalid
password, -3 unknown user, -4 stale nonce, -5 no credentials, -6 nonce reused,
-8 user mismatch (auth_check flag 1). ACK and CANCEL are 1. A database that cannot
be read raises (the route fails, and the router answers 500).
$au/$ar/$ad/$aU (geosip.script.pv) read the credentials header itself, as Kamailio.
After a successful check, the load_credentials columns of the user's row are assigned
to their PVs ($avp(pbxgroupid) = the pbxgroupid column), as Kamailio's auth_db does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from geosip.modules.auth import api as auth
from geosip.script.exports import ksr
from geosip.sip import digest

from .config import SETTINGS
from .lookup import get_user

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.auth_db")

codes = auth.codes
CHECK_ID = 1        # auth_check flag: the auth user must be the From (To for REGISTER) user
CHECK_SKIPFWD = 2   # ... except for INVITE, BYE, PRACK, UPDATE and MESSAGE
_FORWARDED = frozenset({"INVITE", "BYE", "PRACK", "UPDATE", "MESSAGE"})

RETURNS = ("1 authenticated; -1 error (malformed credentials, a nonce not ours, "
           "unsupported algorithm); -2 wrong password; -3 unknown user; -4 stale "
           "nonce; -5 no credentials for the realm; -6 nonce reused (nc)")


def authenticate(ctx: "RequestContext", realm: str, table: str, header: str) -> int:
    realm = realm or auth.default_realm(ctx)
    code, value, cred = auth.pre_auth(ctx, realm, header)
    if code != codes.DO_AUTHENTICATION:
        return code
    assert value is not None and cred is not None
    algorithm = str(auth.SETTINGS["algorithm"])
    credentials = SETTINGS["credentials"]
    found = get_user(cred.username, realm, table, algorithm,
                     tuple(column for _, column in credentials))
    if found is None:
        return codes.AUTH_USER_UNKNOWN
    ha1, values = found
    if len(ha1) != len(digest.ha1("", "", "", algorithm)):
        log.error("auth_db: the stored HA1 of %s is not an %s hash", cred.username, algorithm)
        return codes.AUTH_ERROR
    msg = ctx.msg
    if not digest.verify(cred, method=msg.method, ha1=ha1, body=msg.body):
        return codes.AUTH_INVALID_PASSWORD
    code = auth.post_auth(ctx, header, value, cred)
    if code == codes.AUTH_OK:
        for (target, _), loaded in zip(credentials, values):
            if loaded is not None:  # Kamailio adds no AVP for a NULL column
                target.set(ctx, loaded if isinstance(loaded, int | str) else str(loaded))
    return code


def _user(uri: object) -> str:
    return str(getattr(uri, "user", "") or "")


def _host(uri: object) -> str:
    return str(getattr(uri, "host", "") or "")


def _identity(ctx: "RequestContext", flags: int) -> int:
    """Kamailio's auth_check identity checks (flag 1), after a successful check."""
    msg = ctx.msg
    used = ctx.script.extra.get(auth.USED)
    if not isinstance(used, tuple):
        return codes.AUTH_OK
    auth_user = digest.parse_credentials(used[1]).username.partition("@")[0]
    furi, turi = msg.from_.uri, msg.to.uri
    registering = msg.method in ("REGISTER", "PUBLISH")
    uri = turi if registering else furi
    if not (flags & CHECK_SKIPFWD and msg.method in _FORWARDED) and auth_user != _user(uri):
        return codes.AUTH_USER_MISMATCH
    if registering:
        if _user(furi) != _user(turi):
            return codes.AUTH_USER_MISMATCH
        if SETTINGS["use_domain"] and _host(furi) != _host(turi):
            return codes.AUTH_USER_MISMATCH
        if msg.method == "PUBLISH":
            ruri = msg.uri
            if _user(furi) != _user(ruri) or (
                    SETTINGS["use_domain"] and _host(furi) != _host(ruri)):
                return codes.AUTH_USER_MISMATCH
    return codes.AUTH_OK


@ksr("auth_check", "ssi", blocking=True,
     returns=RETURNS + "; -8 (flag 1) the auth user is not the From/To user")
def auth_check(ctx: "RequestContext", realm: str, table: str, flags: int) -> int:
    """www_authenticate for REGISTER, proxy_authenticate otherwise; flag 1 also
    checks identity: the auth user is the To user of a REGISTER/PUBLISH (From user
    of anything else; flag 2 skips that for INVITE, BYE, PRACK, UPDATE, MESSAGE),
    From user = To user for REGISTER/PUBLISH (and hosts with use_domain), and the
    R-URI is the From for PUBLISH. realm "" = To host for REGISTER, else From host."""
    if ctx.msg.method in ("ACK", "CANCEL"):
        return codes.AUTH_OK
    code = authenticate(ctx, realm, table, auth.header_for(ctx))
    if code == codes.AUTH_OK and int(flags) & CHECK_ID:
        return _identity(ctx, int(flags))
    return code


@ksr("www_authenticate", "ss", blocking=True, returns=RETURNS)
def www_authenticate(ctx: "RequestContext", realm: str, table: str) -> int:
    """Check the Authorization header (the answer to a 401)."""
    return authenticate(ctx, realm, table, "Authorization")


@ksr("proxy_authenticate", "ss", blocking=True, returns=RETURNS)
def proxy_authenticate(ctx: "RequestContext", realm: str, table: str) -> int:
    """Check the Proxy-Authorization header (the answer to a 407)."""
    return authenticate(ctx, realm, table, "Proxy-Authorization")


FUNCTIONS = (auth_check, www_authenticate, proxy_authenticate)
