"""HTTP Digest authentication for SIP: RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760.

Pure functions: no I/O, no clock, no randomness. Callers pass nonces and cnonces in.

Values (frozen, slotted):
  Challenge    a WWW-Authenticate / Proxy-Authenticate value (RFC 7616 §3.3).
  Credentials  an Authorization / Proxy-Authorization value (RFC 7616 §3.4).
  The scheme is kept as sent (`is_digest` compares it case-insensitively), parameter
  names are lower-cased, unknown parameters stay in `other` in arrival order. For a
  non-Digest scheme every parameter goes to `other` (or a bare token68, as Bearer
  sends, to `token68`), so a proxy can forward what it does not understand.

Parsing (input from peers; raise ParseError, status 400):
  parse_challenge(value) / parse_credentials(value): the header value after the colon.
  Syntax errors (empty, unterminated quote, missing '=' or ',', control characters),
  duplicate Digest parameters, and missing required Digest parameters raise.
Formatting (raise LocalProtocolError for values that cannot be sent: CR, LF or NUL,
  a non-token scheme, parameter name or qop option, a Digest field repeated in `other`):
  format_challenge(ch) / format_credentials(cr). parse(format(x)) == x.

Computing (lower-case hex; ValueError for an unsupported algorithm or qop, or missing
inputs: the caller answers with a fresh challenge). Algorithms: MD5, MD5-sess, SHA-256,
SHA-256-sess, SHA-512-256, SHA-512-256-sess, case-insensitive; None means MD5.
  ha1(username, realm, password, algorithm)    H(username:realm:password). Ignores
      "-sess": this is the value Kamailio stores in subscriber.ha1. Its ha1b column is
      the same hash with username "user@domain", for UAs that send that as username.
  ha1_sess(ha1, nonce, cnonce, algorithm)      H(ha1:nonce:cnonce), RFC 7616 §3.4.2.
  ha2(method, uri, algorithm, qop, body)       H(method:uri), or H(method:uri:H(body))
      for auth-int (RFC 7616 §3.4.3; an absent SIP body hashes as b"").
  response(ha1, nonce, ha2, algorithm, qop, nc, cnonce)   the request-digest, §3.4.1.
  compute_response(...)  all of it, from a password or a stored (non-sess) ha1.
  hash_username(username, realm, algorithm)   H(username:realm), userhash §3.4.4.
  verify(credentials, ...)  constant-time check of the response only. The caller still
      checks that realm is its own, the nonce is one it issued and fresh, nc grows, and
      uri matches the Request-URI (RFC 3261 §22.4, RFC 7616 §3.4.5).
  build_credentials(challenge, ...)  a UAC's answer: qop auth if offered, else auth-int,
      else none; userhash when the challenge asks for it.

Not supported: username* (RFC 7616 §3.4.4 extended notation; it stays in `other`, and
username is still required) and charset (kept in `other`; SIP is UTF-8 throughout).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from geosip.sip.errors import LocalProtocolError, ParseError

__all__ = [
    "Challenge", "Credentials", "parse_challenge", "parse_credentials",
    "format_challenge", "format_credentials", "ha1", "ha1_sess", "ha2", "response",
    "compute_response", "hash_username", "verify", "build_credentials",
]

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str = "Digest"
    realm: str = ""
    nonce: str = ""
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    userhash: bool = False
    other: Params = ()
    token68: str | None = None

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"


@dataclass(frozen=True, slots=True)
class Credentials:
    scheme: str = "Digest"
    username: str = ""
    realm: str = ""
    nonce: str = ""
    uri: str = ""
    response: str = ""
    algorithm: str | None = None
    cnonce: str | None = None
    qop: str | None = None
    nc: str | None = None
    opaque: str | None = None
    userhash: bool = False
    other: Params = ()
    token68: str | None = None

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"


# --- parsing: one left-to-right scan; every regex is anchored at pos and consumes
# what it matches, so the whole parse is linear in the value's length.

_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")  # RFC 3261 §25.1 token
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 7235 §2.1
_WS = re.compile(r"[ \t\r\n]*")  # LWS; folding is tolerated outside quotes
_BARE = re.compile(r'[^ \t\r\n,"\x00]+')  # lenient unquoted value: token and then some
_QTEXT = re.compile(r'[^"\\\r\n\x00]*')
_NC = re.compile(r"[0-9A-Fa-f]{8}")  # RFC 7616 §3.4: nc-value = 8LHEX
_UNSENDABLE = re.compile(r"[\r\n\x00]")

_CHALLENGE_FIELDS = frozenset(
    {"realm", "nonce", "algorithm", "qop", "opaque", "stale", "domain", "userhash"})
_CREDENTIALS_FIELDS = frozenset(
    {"username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "qop", "nc",
     "opaque", "userhash"})


def _skip_ws(value: str, pos: int) -> int:
    m = _WS.match(value, pos)
    assert m is not None  # '*' always matches
    return m.end()


def _short(text: str) -> str:
    return repr(text[:32])


def _quoted(value: str, pos: int) -> tuple[str, int]:
    """Read the quoted-string opening at value[pos]; RFC 3261 §25.1 quoted-pair."""
    parts: list[str] = []
    pos += 1
    while True:
        m = _QTEXT.match(value, pos)
        assert m is not None
        parts.append(m.group())
        pos = m.end()
        if pos >= len(value) or (value[pos] == "\\" and pos + 1 == len(value)):
            raise ParseError("unterminated quoted string")
        c = value[pos]
        if c == '"':
            return "".join(parts), pos + 1
        if c == "\\" and value[pos + 1] not in "\r\n\x00":
            parts.append(value[pos + 1])
            pos += 2
        else:
            raise ParseError("control character in quoted string")


def _parse(value: str) -> tuple[str, list[tuple[str, str]], str | None]:
    """Split `scheme [token68 | #auth-param]` (RFC 7235 §2.1, RFC 3261 §25.1)."""
    n = len(value)
    pos = _skip_ws(value, 0)
    m = _TOKEN.match(value, pos)
    if m is None:
        raise ParseError("missing authentication scheme")
    scheme, pos = m.group(), m.end()
    if pos < n and value[pos] not in " \t\r\n":
        raise ParseError(f"bad character after the scheme at offset {pos}")
    pos = _skip_ws(value, pos)
    m = _TOKEN68.match(value, pos)
    if m is not None and _skip_ws(value, m.end()) == n:
        return scheme, [], m.group()
    params: list[tuple[str, str]] = []
    while True:
        while pos < n and value[pos] == ",":  # empty list elements, RFC 7230 §7
            pos = _skip_ws(value, pos + 1)
        if pos == n:
            return scheme, params, None
        m = _TOKEN.match(value, pos)
        if m is None:
            raise ParseError(f"bad parameter name at offset {pos}")
        name = m.group().lower()
        pos = _skip_ws(value, m.end())
        if pos == n or value[pos] != "=":
            raise ParseError(f"missing '=' after {_short(name)}")
        pos = _skip_ws(value, pos + 1)
        if pos < n and value[pos] == '"':
            val, pos = _quoted(value, pos)
        else:
            m = _BARE.match(value, pos)
            if m is None:
                raise ParseError(f"missing value for {_short(name)}")
            val, pos = m.group(), m.end()
        params.append((name, val))
        pos = _skip_ws(value, pos)
        if pos < n and value[pos] != ",":
            raise ParseError(f"expected ',' after {_short(name)}")


def _split(params: list[tuple[str, str]],
           fields: frozenset[str]) -> tuple[dict[str, str], Params]:
    known: dict[str, str] = {}
    other: list[tuple[str, str]] = []
    for name, val in params:
        if name not in fields:
            other.append((name, val))
        elif name in known:  # RFC 7235 §2.2: each parameter name only once
            raise ParseError(f"duplicate parameter {name}")
        else:
            known[name] = val
    return known, tuple(other)


def _require(known: dict[str, str], names: tuple[str, ...], what: str) -> None:
    for name in names:
        if name not in known:
            raise ParseError(f"Digest {what} without {name}")


def parse_challenge(value: str) -> Challenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value. Raises ParseError."""
    scheme, params, token68 = _parse(value)
    if scheme.lower() != "digest":
        return Challenge(scheme=scheme, other=tuple(params), token68=token68)
    if token68 is not None:
        raise ParseError("Digest challenge needs name=value parameters")
    known, other = _split(params, _CHALLENGE_FIELDS)
    _require(known, ("realm", "nonce"), "challenge")  # RFC 7616 §3.3
    qop = tuple(q for q in (s.strip(" \t") for s in known.get("qop", "").split(",")) if q)
    if not all(_TOKEN.fullmatch(q) for q in qop):
        raise ParseError("bad qop option")
    return Challenge(
        scheme=scheme, realm=known["realm"], nonce=known["nonce"],
        algorithm=known.get("algorithm"), qop=qop, opaque=known.get("opaque"),
        # RFC 7616 §3.3: stale and userhash are "true" or "false", case-insensitive
        stale=known.get("stale", "").lower() == "true", domain=known.get("domain"),
        userhash=known.get("userhash", "").lower() == "true", other=other)


# Credentials are immutable and a request's are read several times on its way through a
# script (sanity, auth's pre_auth, auth_db, $adu...): a parse costs about 20 us, a
# cache hit well under 1. Bounded: a peer sending new values only evicts old ones.
@functools.lru_cache(maxsize=256)
def parse_credentials(value: str) -> Credentials:
    """Parse an Authorization / Proxy-Authorization value. Raises ParseError."""
    scheme, params, token68 = _parse(value)
    if scheme.lower() != "digest":
        return Credentials(scheme=scheme, other=tuple(params), token68=token68)
    if token68 is not None:
        raise ParseError("Digest credentials need name=value parameters")
    known, other = _split(params, _CREDENTIALS_FIELDS)
    _require(known, ("username", "realm", "nonce", "uri", "response"), "credentials")
    qop, nc = known.get("qop"), known.get("nc")
    if qop is not None:
        if not _TOKEN.fullmatch(qop):
            raise ParseError("bad qop")
        # RFC 2617 §3.2.2: cnonce and nc MUST be sent with qop
        _require(known, ("cnonce", "nc"), "credentials with qop")
    if nc is not None and not _NC.fullmatch(nc):
        raise ParseError("nc is not 8 hex digits")
    return Credentials(
        scheme=scheme, username=known["username"], realm=known["realm"],
        nonce=known["nonce"], uri=known["uri"], response=known["response"],
        algorithm=known.get("algorithm"), cnonce=known.get("cnonce"), qop=qop, nc=nc,
        opaque=known.get("opaque"), userhash=known.get("userhash", "").lower() == "true",
        other=other)


# --- formatting


def _q(val: str) -> str:
    if _UNSENDABLE.search(val):
        raise LocalProtocolError(f"CR, LF or NUL in {_short(val)}")
    return '"' + val.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _t(val: str) -> str:
    """A token where the grammar wants one; quoted if the value is not a token."""
    return val if _TOKEN.fullmatch(val) else _q(val)


def _join(scheme: str, token68: str | None, fields: list[tuple[str, str]],
          other: Params, reserved: frozenset[str]) -> str:
    if not _TOKEN.fullmatch(scheme):
        raise LocalProtocolError(f"bad scheme {_short(scheme)}")
    for name, val in other:
        if not _TOKEN.fullmatch(name) or name != name.lower() or name in reserved:
            raise LocalProtocolError(f"bad parameter name {_short(name)}")
        fields.append((name, _t(val)))
    if token68 is not None:
        if fields or not _TOKEN68.fullmatch(token68):
            raise LocalProtocolError("token68 goes alone and must be token68")
        return f"{scheme} {token68}"
    if not fields:
        return scheme
    return scheme + " " + ", ".join(f"{name}={val}" for name, val in fields)


def _fields(items: list[tuple[str, str | None, Callable[[str], str]]],
            ) -> list[tuple[str, str]]:
    return [(name, quote(val)) for name, val, quote in items if val is not None]


def format_challenge(ch: Challenge) -> str:
    """Serialize a Challenge (quoting per RFC 7616 §3.3). Raises LocalProtocolError."""
    if not ch.is_digest:
        return _join(ch.scheme, ch.token68, [], ch.other, frozenset())
    if not all(_TOKEN.fullmatch(q) for q in ch.qop):
        raise LocalProtocolError("qop options must be tokens")
    return _join(ch.scheme, ch.token68, _fields([
        ("realm", ch.realm, _q), ("domain", ch.domain, _q), ("nonce", ch.nonce, _q),
        ("opaque", ch.opaque, _q), ("stale", "true" if ch.stale else None, _t),
        ("algorithm", ch.algorithm, _t), ("qop", ",".join(ch.qop) or None, _q),
        ("userhash", "true" if ch.userhash else None, _t),
    ]), ch.other, _CHALLENGE_FIELDS)


def format_credentials(cr: Credentials) -> str:
    """Serialize Credentials (quoting per RFC 7616 §3.4). Raises LocalProtocolError."""
    if not cr.is_digest:
        return _join(cr.scheme, cr.token68, [], cr.other, frozenset())
    # qop and nc are unquoted tokens in credentials (RFC 7616 §3.4); the parser also
    # accepts them quoted, as some old UAs send them.
    return _join(cr.scheme, cr.token68, _fields([
        ("username", cr.username, _q), ("realm", cr.realm, _q), ("nonce", cr.nonce, _q),
        ("uri", cr.uri, _q), ("response", cr.response, _q), ("algorithm", cr.algorithm, _t),
        ("cnonce", cr.cnonce, _q), ("opaque", cr.opaque, _q), ("qop", cr.qop, _t),
        ("nc", cr.nc, _t), ("userhash", "true" if cr.userhash else None, _t),
    ]), cr.other, _CREDENTIALS_FIELDS)


# --- computing

# RFC 7616 §6.1 (IANA "HTTP Digest Hash Algorithms"), RFC 8760 §2 for SIP.
_HASHES = {"md5": "md5", "sha-256": "sha256", "sha-512-256": "sha512_256"}


def _algorithm(algorithm: str | None) -> tuple[str, bool]:
    """The hashlib name and whether it is a -sess variant. Raises ValueError."""
    name = "md5" if algorithm is None else algorithm.lower()
    sess = name.endswith("-sess")
    hashname = _HASHES.get(name[:-5] if sess else name)
    if hashname is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return hashname, sess


def _h(hashname: str, data: str | bytes) -> str:
    # UTF-8 (RFC 3261 §25, RFC 7616 §4); surrogateescape gives back the very bytes a
    # peer sent when the message parser decoded them with surrogateescape.
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return hashlib.new(hashname, raw).hexdigest()


def _qop(qop: str | None) -> str | None:
    if qop is None:
        return None
    q = qop.lower()
    if q not in ("auth", "auth-int"):
        raise ValueError(f"unsupported qop {qop!r}")
    return q


def ha1(username: str, realm: str, password: str, algorithm: str | None = "MD5") -> str:
    """H(username:realm:password), RFC 7616 §3.4.2; "-sess" is applied by ha1_sess."""
    return _h(_algorithm(algorithm)[0], f"{username}:{realm}:{password}")


def ha1_sess(ha1: str, nonce: str, cnonce: str, algorithm: str | None = "MD5-sess") -> str:
    """H(ha1:nonce:cnonce), the session HA1 of RFC 7616 §3.4.2 / RFC 2617 §3.2.2.2."""
    return _h(_algorithm(algorithm)[0], f"{ha1.lower()}:{nonce}:{cnonce}")


def ha2(method: str, uri: str, algorithm: str | None = "MD5", qop: str | None = None,
        body: bytes = b"") -> str:
    """H(A2), RFC 7616 §3.4.3: auth-int adds H(body). Raises ValueError."""
    hashname = _algorithm(algorithm)[0]
    if _qop(qop) == "auth-int":
        return _h(hashname, f"{method}:{uri}:{_h(hashname, body)}")
    return _h(hashname, f"{method}:{uri}")


def response(ha1: str, nonce: str, ha2: str, algorithm: str | None = "MD5",
             qop: str | None = None, nc: str | None = None,
             cnonce: str | None = None) -> str:
    """The request-digest (RFC 7616 §3.4.1); `ha1` already session-adjusted if -sess.

    Without qop this is RFC 2069's H(ha1:nonce:ha2) (RFC 2617 §3.2.2.1). Raises
    ValueError for an unsupported algorithm or qop, or qop without nc and cnonce.
    """
    hashname = _algorithm(algorithm)[0]
    if _qop(qop) is None:
        return _h(hashname, f"{ha1}:{nonce}:{ha2}")
    if nc is None or cnonce is None:
        raise ValueError("qop needs nc and cnonce")
    return _h(hashname, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def compute_response(*, username: str, realm: str, password: str | None = None,
                     ha1: str | None = None, method: str, uri: str, nonce: str,
                     algorithm: str | None = "MD5", qop: str | None = None,
                     nc: str | None = None, cnonce: str | None = None,
                     body: bytes = b"") -> str:
    """The response for one request, from `password` or a stored `ha1` (exactly one).

    A stored ha1 is H(username:realm:password) with the algorithm's hash, never the
    session value: Kamailio's subscriber.ha1 (or ha1b, hashed with "user@domain", when
    the UA sends that as username). Raises ValueError.
    """
    if (password is None) == (ha1 is None):
        raise ValueError("give exactly one of password and ha1")
    hashname, sess = _algorithm(algorithm)
    h1 = ha1.lower() if ha1 is not None else _h(
        hashname, f"{username}:{realm}:{password}")
    if sess:
        if cnonce is None:
            raise ValueError("-sess algorithms need a cnonce")
        h1 = _h(hashname, f"{h1}:{nonce}:{cnonce}")
    # `ha1` (the argument) shadows ha1() here; ha2() and response() are the module's.
    return response(h1, nonce, ha2(method, uri, algorithm, qop, body), algorithm, qop, nc,
                    cnonce)


def hash_username(username: str, realm: str, algorithm: str | None = "MD5") -> str:
    """H(username:realm), the userhash of RFC 7616 §3.4.4. Raises ValueError."""
    return _h(_algorithm(algorithm)[0], f"{username}:{realm}")


def verify(credentials: Credentials, *, method: str, password: str | None = None,
           ha1: str | None = None, body: bytes = b"", username: str | None = None) -> bool:
    """True if the response matches (hmac.compare_digest); False for other schemes.

    `username` is the real user name, needed with a password when the credentials
    carry userhash=true (the caller looked the user up by hash). Raises ValueError
    for an unsupported algorithm or qop, or bad password/ha1/username arguments.
    """
    if not credentials.is_digest:
        return False
    if credentials.userhash and password is not None and username is None:
        raise ValueError("userhash credentials need the real username with a password")
    expected = compute_response(
        username=credentials.username if username is None else username,
        realm=credentials.realm, password=password, ha1=ha1, method=method,
        uri=credentials.uri, nonce=credentials.nonce, algorithm=credentials.algorithm,
        qop=credentials.qop, nc=credentials.nc, cnonce=credentials.cnonce, body=body)
    got = credentials.response.lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected.encode(), got)


def build_credentials(challenge: Challenge, *, username: str, password: str,
                      method: str, uri: str, cnonce: str, nc: int = 1,
                      body: bytes = b"") -> Credentials:
    """A UAC's answer to a Digest challenge (RFC 3261 §22.2, RFC 7616 §3.4).

    Raises ValueError for a non-Digest challenge, an unsupported algorithm, or nc
    outside 1..2**32-1.
    """
    if not challenge.is_digest:
        raise ValueError(f"cannot answer a {challenge.scheme} challenge")
    sess = _algorithm(challenge.algorithm)[1]
    if not 1 <= nc <= 0xFFFFFFFF:
        raise ValueError("nc out of range")
    offered = {q.lower() for q in challenge.qop}
    qop = "auth" if "auth" in offered else "auth-int" if "auth-int" in offered else None
    # RFC 2617 §3.2.2: nc and cnonce go only with qop; -sess needs the cnonce anyway.
    nc_value = f"{nc:08x}" if qop else None
    cn = cnonce if qop or sess else None
    digest = compute_response(
        username=username, realm=challenge.realm, password=password, method=method,
        uri=uri, nonce=challenge.nonce, algorithm=challenge.algorithm, qop=qop,
        nc=nc_value, cnonce=cn, body=body)
    name = hash_username(username, challenge.realm, challenge.algorithm) \
        if challenge.userhash else username
    return Credentials(
        username=name, realm=challenge.realm, nonce=challenge.nonce, uri=uri,
        response=digest, algorithm=challenge.algorithm, cnonce=cn, qop=qop,
        nc=nc_value, opaque=challenge.opaque, userhash=challenge.userhash)
