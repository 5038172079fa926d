"""KSR.auth and KSR.auth_db through a real Lua script routing the real Core in-process
(tests/support/luanet.py) over an SQLite subscriber table: the challenge, MD5 and
SHA-256 answers, ha1/ha1b/plaintext passwords, wrong passwords, replayed nc,
forged and expired nonces, $au/$ar, and 407 for an INVITE.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from geosip.db import schema
from geosip.db.connect import open_database
from geosip.db.models import Subscriber
from geosip.modules.auth import mod as auth_mod
from geosip.modules.auth.config import RUNTIME
from geosip.modules.auth_db import mod as auth_db_mod
from geosip.modules.registrar import mod as registrar_mod
from geosip.modules.usrloc import mod as usrloc_mod
from geosip.sip import Request, Response, digest
from tests.support.luanet import UAC, UAS, LuaNet, request

MODULES = ("tm", "tmx", "sl", "registrar", "usrloc", "auth", "auth_db")

SCRIPT = """
function ksr_request_route()
  local realm = KSR.pv.get("$hdr(X-Realm)") or ""
  local qop = tonumber(KSR.pv.get("$hdr(X-Qop)") or "1")
  local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
  KSR.test.record(rc)
  if rc < 0 then
    KSR.auth.auth_challenge(realm, qop)
    return
  end
  KSR.test.record((KSR.pv.get("$au") or "-") .. "|" .. (KSR.pv.get("$ar") or "-"))
  if KSR.is_REGISTER() then
    KSR.registrar.save("location", 0)
    return
  end
  KSR.test.record(KSR.auth.consume_credentials())
  -- the header is gone from the request, $au/$ar are not (as in Kamailio)
  KSR.test.record((KSR.pv.get("$au") or "-") .. "|" .. (KSR.pv.get("$ar") or "-"))
  KSR.tm.t_relay()
end
"""

REGISTER_URI = "sip:example.com"


def register(user: str = "alice", cseq: int = 1, authorization: str | None = None,
             extra: str = "") -> bytes:
    return (f"REGISTER {REGISTER_URI} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-reg-{cseq}-{time.time_ns()}\r\n"
            f"From: <sip:{user}@example.com>;tag=r{cseq}\r\nTo: <sip:{user}@example.com>\r\n"
            f"Call-ID: reg-auth\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:{user}@127.0.0.1:5070>\r\n"
            + (f"Authorization: {authorization}\r\n" if authorization else "")
            + extra + "Content-Length: 0\r\n\r\n").encode()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Any]:
    database = open_database(f"sqlite:///{tmp_path / 'geosip.sqlite'}")
    schema.init(database)
    with database.connection_context():
        for user, domain, password in (("alice", "example.com", "secret"),
                                       ("sipp", "127.0.0.1", "sippw")):
            Subscriber.create(
                username=user, domain=domain, password=password,
                ha1=digest.ha1(user, domain, password),
                ha1b=digest.ha1(f"{user}@{domain}", domain, password))
    nets: list[LuaNet] = []

    def make(auth: dict[str, Any] | None = None,
             auth_db: dict[str, Any] | None = None) -> LuaNet:
        usrloc_mod.init()
        registrar_mod.init()
        auth_mod.init(auth)
        auth_db_mod.init(auth_db)
        nets.append(LuaNet(SCRIPT, tmp_path, modules=MODULES))
        return nets[-1]

    yield make
    for made in nets:
        made.stop()
    usrloc_mod.destroy()
    registrar_mod.init()
    auth_mod.init()
    auth_db_mod.init()
    database.close()


def reply_of(n: LuaNet, data: bytes) -> Response:
    n.deliver(data)
    [reply] = n.take(UAC)
    assert isinstance(reply, Response)
    return reply


def challenge_of(reply: Response, header: str = "WWW-Authenticate") -> digest.Challenge:
    value = reply.header(header)
    assert value is not None, reply
    return digest.parse_challenge(value)


def answer(ch: digest.Challenge, *, user: str = "alice", password: str = "secret",
           method: str = "REGISTER", uri: str = REGISTER_URI, nc: int = 1) -> str:
    return digest.format_credentials(digest.build_credentials(
        ch, username=user, password=password, method=method, uri=uri,
        cnonce="c0ffee", nc=nc))


def challenged(n: LuaNet, **kw: Any) -> digest.Challenge:
    reply = reply_of(n, register(**kw))
    assert reply.status == 401
    return challenge_of(reply)


@pytest.mark.parametrize("auth,auth_db", [
    ({}, {}),                                            # MD5, stored ha1
    ({}, {"calculate_ha1": 1}),                          # MD5, plaintext password
    ({"algorithm": "SHA-256"}, {"calculate_ha1": 1}),    # RFC 8760
    ({}, {"use_domain": 1}),
])
def test_register_challenge_then_200(net, auth: dict, auth_db: dict) -> None:
    n = net(auth, auth_db)
    reply = reply_of(n, register())
    assert (reply.status, reply.reason) == (401, "Unauthorized")
    ch = challenge_of(reply)
    assert (ch.realm, ch.qop, ch.stale) == ("example.com", ("auth",), False)
    assert ch.algorithm == auth.get("algorithm", "MD5")
    reply = reply_of(n, register(cseq=2, authorization=answer(ch)))
    assert reply.status == 200
    assert reply.values("contact") == ["<sip:alice@127.0.0.1:5070>;expires=3600"]
    assert n.recorded == [-5, 1, "alice|example.com"]


def test_sha256_with_stored_ha1(net) -> None:
    n = net({"algorithm": "SHA-256"})
    with Subscriber._meta.database.connection_context():
        Subscriber.update(ha1=digest.ha1("alice", "example.com", "secret", "SHA-256")) \
            .where(Subscriber.username == "alice").execute()
    ch = challenged(n)
    assert reply_of(n, register(cseq=2, authorization=answer(ch))).status == 200
    # an MD5 HA1 cannot answer a SHA-256 challenge: -1, challenged again
    n2 = net({"algorithm": "SHA-256"})
    with Subscriber._meta.database.connection_context():
        Subscriber.update(ha1=digest.ha1("alice", "example.com", "secret")) \
            .where(Subscriber.username == "alice").execute()
    ch = challenged(n2)
    assert reply_of(n2, register(cseq=2, authorization=answer(ch))).status == 401
    assert n2.recorded == [-5, -1]


def test_ha1b_for_user_at_domain(net) -> None:
    n = net()
    ch = challenged(n)
    auth = answer(ch, user="alice@example.com")
    assert reply_of(n, register(cseq=2, authorization=auth)).status == 200
    assert n.recorded == [-5, 1, "alice|example.com"]


def test_wrong_password_is_challenged_again(net) -> None:
    n = net()
    ch = challenged(n)
    reply = reply_of(n, register(cseq=2, authorization=answer(ch, password="guess")))
    assert reply.status == 401 and not challenge_of(reply).stale
    assert n.recorded == [-5, -2]


def test_unknown_user_is_minus_3(net) -> None:
    n = net()
    ch = challenged(n, user="mallory")
    auth = answer(ch, user="mallory")
    assert reply_of(n, register(user="mallory", cseq=2, authorization=auth)).status == 401
    assert n.recorded == [-5, -3]


def test_replayed_nc_is_refused_and_a_higher_one_accepted(net) -> None:
    n = net()
    ch = challenged(n)
    auth = answer(ch)
    assert reply_of(n, register(cseq=2, authorization=auth)).status == 200
    replay = reply_of(n, register(cseq=3, authorization=auth))
    assert replay.status == 401 and challenge_of(replay).stale   # a fresh nonce, stale
    assert reply_of(n, register(cseq=4, authorization=answer(ch, nc=2))).status == 200
    lower = reply_of(n, register(cseq=5, authorization=answer(ch, nc=1)))
    assert lower.status == 401
    assert n.recorded == [-5, 1, "alice|example.com", -6, 1, "alice|example.com", -6]


def test_nonce_count_0_allows_reuse(net) -> None:
    n = net({"nonce_count": 0})
    ch = challenged(n)
    auth = answer(ch)
    assert reply_of(n, register(cseq=2, authorization=auth)).status == 200
    assert reply_of(n, register(cseq=3, authorization=auth)).status == 200


def test_one_time_nonce_without_qop(net) -> None:
    n = net({"one_time_nonce": 1})
    reply = reply_of(n, register(extra="X-Qop: 0\r\n"))
    ch = challenge_of(reply)
    assert ch.qop == ()
    auth = answer(ch)
    assert "qop" not in auth
    assert reply_of(n, register(cseq=2, authorization=auth, extra="X-Qop: 0\r\n")).status == 200
    assert reply_of(n, register(cseq=3, authorization=auth, extra="X-Qop: 0\r\n")).status == 401
    assert n.recorded[-1] == -6


def forge(nonce: str) -> str:
    last = "A" if nonce[-1] != "A" else "B"
    return nonce[:-1] + last


@pytest.mark.parametrize("make_nonce", [
    lambda real: forge(real),                 # a bad HMAC
    lambda real: "deadbeef",                  # not even ours in shape
    lambda real: real[:-2],                   # truncated
])
def test_forged_nonce_is_refused(net, make_nonce) -> None:
    n = net()
    ch = challenged(n)
    fake = digest.Challenge(realm=ch.realm, nonce=make_nonce(ch.nonce),
                            algorithm=ch.algorithm, qop=ch.qop)
    reply = reply_of(n, register(cseq=2, authorization=answer(fake)))
    assert reply.status == 401 and not challenge_of(reply).stale
    assert n.recorded == [-5, -1]


def test_nonce_from_another_secret_is_refused(net) -> None:
    n = net({"secret": "one"})
    ch = challenged(n)
    auth_mod.init({"secret": "two"})
    assert reply_of(n, register(cseq=2, authorization=answer(ch))).status == 401
    assert n.recorded == [-5, -1]


def test_expired_nonce_gets_stale_true(net) -> None:
    n = net({"nonce_expire": 60})
    ch = challenged(n)
    old = digest.Challenge(realm=ch.realm, nonce=RUNTIME.codec.issue(time.time() - 61),
                           algorithm=ch.algorithm, qop=ch.qop)
    reply = reply_of(n, register(cseq=2, authorization=answer(old)))
    assert reply.status == 401
    fresh = challenge_of(reply)
    assert fresh.stale and fresh.nonce != old.nonce
    assert n.recorded == [-5, -4]
    assert reply_of(n, register(cseq=3, authorization=answer(fresh))).status == 200


def test_credentials_for_another_realm_are_no_credentials(net) -> None:
    n = net()
    ch = challenged(n)
    other = digest.Challenge(realm="elsewhere.example", nonce=ch.nonce, qop=ch.qop)
    assert reply_of(n, register(cseq=2, authorization=answer(other))).status == 401
    assert n.recorded == [-5, -5]


def test_malformed_credentials_are_minus_1(net) -> None:
    n = net()
    assert reply_of(n, register(authorization='Digest username="alice')).status == 401
    assert n.recorded == [-1]


def test_identity_mismatch_is_minus_8(net) -> None:
    n = net()
    ch = challenged(n, user="bob")
    # alice's good credentials on a REGISTER for bob
    assert reply_of(n, register(user="bob", cseq=2, authorization=answer(ch))).status == 401
    assert n.recorded == [-5, -8]


def test_invite_gets_407_then_is_relayed_without_its_credentials(net) -> None:
    n = net()
    reply = reply_of(n, request("INVITE"))
    assert (reply.status, reply.reason) == (407, "Proxy Authentication Required")
    assert reply.header("WWW-Authenticate") is None
    ch = challenge_of(reply, "Proxy-Authenticate")
    assert ch.realm == "127.0.0.1"   # realm "": the From host for non-REGISTER
    auth = digest.format_credentials(digest.build_credentials(
        ch, username="sipp", password="sippw", method="INVITE",
        uri="sip:service@127.0.0.1:5080", cnonce="x1"))
    n.deliver(request("INVITE", n=2, extra=f"Proxy-Authorization: {auth}\r\n"))
    [forwarded] = n.take(UAS)
    assert isinstance(forwarded, Request) and forwarded.method == "INVITE"
    assert forwarded.header("Proxy-Authorization") is None   # consume_credentials
    assert n.recorded == [-5, 1, "sipp|127.0.0.1", 1, "sipp|127.0.0.1"]


def test_explicit_realm(net) -> None:
    n = net()
    reply = reply_of(n, request("INVITE", extra="X-Realm: calls.example\r\n"))
    assert challenge_of(reply, "Proxy-Authenticate").realm == "calls.example"


def test_forgotten_nonce_is_stale(net) -> None:
    n = net({"nc_array_size": 1})
    first = challenged(n)
    assert reply_of(n, register(cseq=2, authorization=answer(first))).status == 200
    second = challenged(n, cseq=3)
    assert reply_of(n, register(cseq=4, authorization=answer(second))).status == 200
    # first was pushed out of the nc memory: its nc 2 could be a replay, so stale
    reply = reply_of(n, register(cseq=5, authorization=answer(first, nc=2)))
    assert reply.status == 401 and challenge_of(reply).stale
    assert n.recorded[-1] == -4


CHALLENGES = """
function ksr_request_route()
  KSR.test.record(KSR.auth.has_credentials(""))
  local kind = KSR.pv.get("$hdr(X-Kind)")
  if kind == "www" then KSR.test.record(KSR.auth.www_challenge("", 2 + 16)) end
  if kind == "proxy" then KSR.test.record(KSR.auth.proxy_challenge("r.example", 0)) end
  KSR.test.record(KSR.auth.consume_credentials())
end
"""


def test_www_and_proxy_challenge_flags_and_has_credentials(net, tmp_path: Path) -> None:
    net()
    n = LuaNet(CHALLENGES, tmp_path, modules=MODULES)
    try:
        ch = challenge_of(reply_of(n, request("OPTIONS", extra="X-Kind: www\r\n")))
        assert (ch.realm, ch.qop, ch.stale) == ("127.0.0.1", ("auth-int",), True)
        proxy = reply_of(n, request("OPTIONS", n=2, extra="X-Kind: proxy\r\n"))
        assert proxy.status == 407
        pch = challenge_of(proxy, "Proxy-Authenticate")
        assert (pch.realm, pch.qop, pch.stale, pch.algorithm) == \
            ("r.example", (), False, "MD5")
        cred = answer(ch, user="sipp", password="x", method="OPTIONS")
        n.deliver(request("OPTIONS", n=3, extra=f"Authorization: {cred}\r\n"))
        assert n.recorded == [-1, 1, -1, -1, 1, -1, 1, -1]
    finally:
        n.stop()


def test_ack_and_cancel_pass(net) -> None:
    n = net()
    n.deliver(request("CANCEL"))
    assert n.recorded[:1] == [1]


def test_database_down_answers_500(net, tmp_path: Path) -> None:
    n = net()
    Subscriber._meta.database.initialize(open_database(f"sqlite:///{tmp_path / 'empty.sqlite'}"))
    ch = challenged(n)
    reply = reply_of(n, register(cseq=2, authorization=answer(ch)))
    assert reply.status == 500


def test_bad_params_are_refused() -> None:
    for params in ({"algorithm": "SHA-1"}, {"algorithm": "MD5-sess"},
                   {"nonce_expire": 0}, {"nonce_count": 2}):
        with pytest.raises(ValueError):
            auth_mod.init(params)
    with pytest.raises(ValueError):
        auth_db_mod.init({"calculate_ha1": 3})
    auth_mod.init()
    auth_db_mod.init()


def test_a_nonce_spelt_another_way_is_not_ours() -> None:
    """base64 ignores the unused low bits of a last character: a twin spelling decodes
    to the same bytes. Only the spelling we issued counts, or the twin would pass the
    nonce-count check as a fresh nonce (a replay)."""
    import base64

    from geosip.modules.auth.nonce import NonceCodec, NonceState

    codec = NonceCodec(b"k" * 32)
    now = time.time()
    for _ in range(20):
        nonce = codec.issue(now)
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        twins = [nonce[:-1] + c for c in alphabet if c != nonce[-1] and
                 base64.urlsafe_b64decode(nonce[:-1] + c + "=" * (-len(nonce) % 4)) == raw]
        assert twins, "the encoding leaves spare bits in the last character"
        assert codec.check(nonce, now) is NonceState.OK
        assert all(codec.check(twin, now) is NonceState.INVALID for twin in twins)
