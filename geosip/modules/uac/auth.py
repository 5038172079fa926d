"""KSR.uac.uac_auth: answer an upstream 401/407 in a failure route (Kamailio's uac
README §4.7, auth.c; RFC 3261 §22.2, RFC 7616 §3.4).

The failure route runs on the request; its best reply is the challenge. uac_auth
picks the credentials (the auth_username_avp / auth_password_avp / auth_realm_avp
PVs when the first two are set, an empty realm PV meaning "the challenge's realm";
else the `credential` modparam entry for the challenge's realm), computes the digest
over the method and the Request-URI of the branch that was challenged, and adds
Authorization (for a 401) or Proxy-Authorization (407) to the request, so the next
KSR.tm.t_relay() in the route carries it. Credentials of the same kind for the same
realm left by an earlier attempt are replaced. As in Kamailio, the CSeq is not
increased (the known limitation its README lists).

`answer(response, method, uri, user, password)` is shared with uac_req_send's
authenticated resend.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from geosip.modules.tm import api as tm
from geosip.script import pv
from geosip.script.exports import ksr
from geosip.sip import ParseError, Response, digest

from . import config

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.uac")

# the challenge header of each status and the credentials header that answers it
_KINDS = {401: ("www-authenticate", "Authorization"),
          407: ("proxy-authenticate", "Proxy-Authorization")}


def challenges(response: Response) -> list[digest.Challenge]:
    """The Digest challenges of a 401/407 we can answer (others are skipped)."""
    kind = _KINDS.get(response.status)
    if kind is None:
        return []
    out = []
    for value in response.header_all(kind[0]):
        try:
            challenge = digest.parse_challenge(value)
        except ParseError:
            continue
        if challenge.is_digest:
            out.append(challenge)
    return out


def answer(response: Response, method: str, uri: str, user: str, password: str,
           realm: str | None = None) -> tuple[str, str] | None:
    """(header name, value) answering the first Digest challenge of `response` (for
    `realm` when given): qop=auth when offered (build_credentials). None when there
    is none or its algorithm is not supported."""
    for challenge in challenges(response):
        if realm and challenge.realm != realm:
            continue
        try:
            cred = digest.build_credentials(challenge, username=user, password=password,
                                            method=method, uri=uri,
                                            cnonce=secrets.token_hex(8))
        except ValueError as exc:
            log.info("uac: cannot answer the challenge of realm %r: %s", challenge.realm,
                     exc)
            continue
        return _KINDS[response.status][1], digest.format_credentials(cred)
    return None


def _pv_text(ctx: "RequestContext", name: str) -> str | None:
    if not name:
        return None
    value = pv.parse(name).get(ctx)
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _credentials(ctx: "RequestContext",
                 response: Response) -> list[tuple[str, str, str | None]]:
    """(user, password, realm or None for any) to try, in order."""
    settings = config.SETTINGS
    user = _pv_text(ctx, settings.get("auth_username_avp", ""))
    password = _pv_text(ctx, settings.get("auth_password_avp", ""))
    if user is not None and password is not None:
        return [(user, password, _pv_text(ctx, settings.get("auth_realm_avp", "")))]
    realms = {c.realm for c in challenges(response)}
    return [(u, p, r) for u, r, p in config.credentials() if r in realms]


def _challenged_uri(ctx: "RequestContext", response: Response) -> str:
    """The Request-URI of the branch whose reply this is (the digest-uri, RFC 3261
    §22.4), else of the request."""
    cell = ctx.cell
    if cell is not None:
        for branch in cell.branches:
            if branch.final is response:
                return branch.request.uri_text
        for branch in cell.branches:
            if branch.final is not None and branch.final.status == response.status:
                return branch.request.uri_text
    return ctx.msg.uri_text


def _same_realm(value: str, realm: str) -> bool:
    try:
        return digest.parse_credentials(value).realm == realm
    except ParseError:
        return False


@ksr("uac_auth", returns="1 the credentials header was added; -1 not a failure route "
                         "on a 401/407, no credentials for its realm, or no challenge "
                         "geosip can answer")
def uac_auth(ctx: "RequestContext") -> bool:
    """Answer the 401/407 a failure route runs for: add Authorization or
    Proxy-Authorization to the request for the next t_relay()."""
    response = ctx.script.reply
    if tm.route_type(ctx) != "failure" or response is None or response.status not in _KINDS:
        log.error("uac_auth: only in a failure route for a 401 or 407")
        return False
    request = ctx.msg
    uri = _challenged_uri(ctx, response)
    for user, password, realm in _credentials(ctx, response):
        found = answer(response, request.method, uri, user, password, realm)
        if found is None:
            continue
        name, value = found
        realm_sent = digest.parse_credentials(value).realm
        kept = [f for f in request.fields
                if not (f.key == name.lower() and _same_realm(f.value, realm_sent))]
        if len(kept) != len(request.fields):
            request.replace_fields(kept)
        request.add_header(name, value)
        return True
    log.info("uac_auth: no credentials for the realm(s) challenged by %s",
             ", ".join(sorted({c.realm for c in challenges(response)})) or "the reply")
    return False


FUNCTIONS = (uac_auth,)
