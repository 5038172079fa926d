"""Tests for geosip.sip.digest: RFC vectors, real header values, errors, round-trips."""

from __future__ import annotations

import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geosip.sip.digest import (
    Challenge, Credentials, build_credentials, compute_response, format_challenge,
    format_credentials, ha1, ha1_sess, ha2, hash_username, parse_challenge,
    parse_credentials, response, verify,
)
from geosip.sip.errors import LocalProtocolError, ParseError


def md5(text: str | bytes) -> str:
    return hashlib.md5(text.encode() if isinstance(text, str) else text).hexdigest()


# --- RFC vectors

RFC2617_CHALLENGE = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                     'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                     'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
RFC2617_CREDENTIALS = ('Digest username="Mufasa", realm="testrealm@host.com", '
                       'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
                       'qop=auth, nc=00000001, cnonce="0a4f113b", '
                       'response="6629fae49393a05397450978507c4ef1", '
                       'opaque="5ccc069c403ebaf9f0171e9517f40e41"')


def test_rfc2617_3_5_example() -> None:
    cr = parse_credentials(RFC2617_CREDENTIALS)
    assert verify(cr, method="GET", password="Circle Of Life")
    assert not verify(cr, method="GET", password="Circle of Life")
    assert not verify(cr, method="POST", password="Circle Of Life")
    built = build_credentials(parse_challenge(RFC2617_CHALLENGE), username="Mufasa",
                              password="Circle Of Life", method="GET",
                              uri="/dir/index.html", cnonce="0a4f113b")
    assert built == cr


RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize("algorithm,expected", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_3_9_1_examples(algorithm: str, expected: str) -> None:
    ch = parse_challenge(f'Digest\r\n realm="http-auth@example.org",\r\n qop="auth, auth-int",'
                         f'\r\n algorithm={algorithm},\r\n nonce="{RFC7616_NONCE}",'
                         f'\r\n opaque="{RFC7616_OPAQUE}"')
    assert ch.qop == ("auth", "auth-int") and ch.algorithm == algorithm
    cr = build_credentials(ch, username="Mufasa", password="Circle of Life", method="GET",
                           uri="/dir/index.html", cnonce=RFC7616_CNONCE)
    assert cr.response == expected
    assert (cr.qop, cr.nc, cr.opaque) == ("auth", "00000001", RFC7616_OPAQUE)
    assert verify(parse_credentials(format_credentials(cr)), method="GET",
                  password="Circle of Life")


def test_rfc7616_3_9_2_sha512_256_userhash() -> None:
    # The values printed in RFC 7616 §3.9.2 came from a pre-standard SHA-512/256;
    # erratum 4897 gives these, and independent implementations agree.
    ch = parse_challenge('Digest realm="api@example.org", qop="auth", '
                         'algorithm=SHA-512-256, '
                         'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
                         'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", '
                         'charset=UTF-8, userhash=true')
    assert ch.userhash and ch.other == (("charset", "UTF-8"),)
    user, password = "J\u00e4s\u00f8n Doe", "Secret, or not?"
    cr = build_credentials(ch, username=user, password=password, method="GET",
                           uri="/doe.json", cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v")
    assert cr.username == "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    assert cr.username == hash_username(user, "api@example.org", "SHA-512-256")
    assert cr.response == "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    assert cr.userhash and "userhash=true" in format_credentials(cr)
    assert verify(cr, method="GET", password=password, username=user)
    stored = ha1(user, "api@example.org", password, "SHA-512-256")
    assert verify(cr, method="GET", ha1=stored)
    with pytest.raises(ValueError):
        verify(cr, method="GET", password=password)  # the hash alone cannot give HA1


# --- SIP cases

NONCE = "Xk3mZGM0YjI5ZTg0OTE1NjA1ZjQ2NDk1YjQ4NDQ3MTk="


def test_sip_register_without_qop() -> None:
    # RFC 2069 compatibility form, still sent by servers that omit qop (RFC 3261 §22.4).
    ch = parse_challenge(f'Digest realm="example.com", nonce="{NONCE}"')
    cr = build_credentials(ch, username="alice", password="secret", method="REGISTER",
                           uri="sip:example.com", cnonce="ignored")
    expected = md5(f"{md5('alice:example.com:secret')}:{NONCE}:{md5('REGISTER:sip:example.com')}")
    assert cr.response == expected
    assert (cr.qop, cr.nc, cr.cnonce, cr.algorithm) == (None, None, None, None)
    assert format_credentials(cr) == (
        f'Digest username="alice", realm="example.com", nonce="{NONCE}", '
        f'uri="sip:example.com", response="{expected}"')
    assert verify(cr, method="REGISTER", password="secret")
    assert verify(cr, method="REGISTER", ha1=md5("alice:example.com:secret"))
    assert not verify(cr, method="INVITE", password="secret")


def test_stored_ha1b_for_user_at_domain_usernames() -> None:
    # Kamailio's subscriber.ha1b = H("user@domain":realm:password).
    def answer(username: str, *, password: str | None = None,
               stored: str | None = None) -> str:
        return compute_response(username=username, realm="example.com", password=password,
                                ha1=stored, method="INVITE", uri="sip:bob@example.com",
                                nonce=NONCE, qop="auth", nc="00000002", cnonce="c1")
    ha1b = ha1("alice@example.com", "example.com", "pw")
    assert answer("alice@example.com", stored=ha1b) == answer("alice@example.com", password="pw")
    # A stored ha1 may come upper-case from old tools.
    assert answer("x", stored=ha1b.upper()) == answer("x", stored=ha1b)


def test_raw_bytes_from_the_parser_hash_as_sent() -> None:
    # geosip's parser decodes with surrogateescape: b"\xff" arrives as "\udcff" and
    # must hash as the byte the UA hashed, not raise UnicodeEncodeError.
    raw_user = b"al\xffce"
    expected = md5(md5(raw_user + b":r:pw").encode() + b":n:" + md5("REGISTER:sip:r").encode())
    cr = Credentials(username=raw_user.decode("utf-8", "surrogateescape"), realm="r",
                     nonce="n", uri="sip:r", response=expected)
    assert verify(parse_credentials(format_credentials(cr)), method="REGISTER", password="pw")
    assert not verify(Credentials(username="u", realm="r", nonce="n", uri="sip:r",
                                  response="\udcff"), method="REGISTER", password="pw")


BODY = b"v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def test_auth_int_hashes_the_body() -> None:
    ch = parse_challenge(f'Digest realm="example.com", nonce="{NONCE}", qop="auth-int"')
    cr = build_credentials(ch, username="bob", password="pw", method="INVITE",
                           uri="sip:carol@example.com", cnonce="0a4f113b", nc=3, body=BODY)
    h2 = md5(f"INVITE:sip:carol@example.com:{md5(BODY)}")
    assert h2 == ha2("INVITE", "sip:carol@example.com", "MD5", "auth-int", BODY)
    assert cr.response == md5(f"{md5('bob:example.com:pw')}:{NONCE}:00000003:0a4f113b:auth-int:{h2}")
    assert cr.qop == "auth-int" and cr.nc == "00000003"
    assert verify(cr, method="INVITE", password="pw", body=BODY)
    assert not verify(cr, method="INVITE", password="pw", body=BODY + b"a=x\r\n")
    # auth ignores the body
    auth = compute_response(username="bob", realm="example.com", password="pw",
                            method="INVITE", uri="sip:c", nonce="n", qop="auth", nc="00000001",
                            cnonce="c", body=BODY)
    assert auth == compute_response(username="bob", realm="example.com", password="pw",
                                    method="INVITE", uri="sip:c", nonce="n", qop="auth",
                                    nc="00000001", cnonce="c")


@pytest.mark.parametrize("algorithm,hashname", [
    ("SHA-512-256", "sha512_256"), ("sha-512-256", "sha512_256"), ("SHA-256", "sha256"),
    ("md5", "md5"),
])
def test_algorithms_by_formula(algorithm: str, hashname: str) -> None:
    def h(s: str) -> str:
        return hashlib.new(hashname, s.encode()).hexdigest()
    got = compute_response(username="alice", realm="r", password="p", method="REGISTER",
                           uri="sip:r", nonce="n", algorithm=algorithm, qop="auth",
                           nc="00000001", cnonce="c")
    assert got == h(f"{h('alice:r:p')}:n:00000001:c:auth:{h('REGISTER:sip:r')}")
    sess = compute_response(username="alice", realm="r", password="p", method="REGISTER",
                            uri="sip:r", nonce="n", algorithm=algorithm + "-sess",
                            qop="auth", nc="00000001", cnonce="c")
    h1 = h(f"{h('alice:r:p')}:n:c")
    assert h1 == ha1_sess(ha1("alice", "r", "p", algorithm + "-sess"), "n", "c", algorithm)
    assert sess == h(f"{h1}:n:00000001:c:auth:{h('REGISTER:sip:r')}")
    assert sess == response(h1, "n", ha2("REGISTER", "sip:r", algorithm), algorithm,
                            "auth", "00000001", "c")


def test_sess_without_qop_still_sends_cnonce() -> None:
    ch = Challenge(realm="r", nonce="n", algorithm="MD5-sess")
    cr = build_credentials(ch, username="u", password="p", method="BYE", uri="sip:r",
                           cnonce="cn")
    assert (cr.cnonce, cr.qop, cr.nc) == ("cn", None, None)
    assert verify(cr, method="BYE", password="p")
    assert verify(cr, method="BYE", ha1=ha1("u", "r", "p"))


@pytest.mark.parametrize("offered,chosen", [
    (("auth",), "auth"), (("auth-int",), "auth-int"), (("auth-int", "auth"), "auth"),
    (("AUTH",), "auth"), (("auth-conf",), None), ((), None),
])
def test_build_credentials_picks_qop(offered: tuple[str, ...], chosen: str | None) -> None:
    ch = Challenge(realm="r", nonce="n", qop=offered)
    cr = build_credentials(ch, username="u", password="p", method="MESSAGE", uri="sip:b@r",
                           cnonce="c", nc=255, body=b"hi")
    assert cr.qop == chosen
    assert cr.nc == ("000000ff" if chosen else None)
    assert verify(parse_credentials(format_credentials(cr)), method="MESSAGE", password="p",
                  body=b"hi")


@pytest.mark.parametrize("call", [
    lambda: compute_response(username="u", realm="r", password="p", method="M", uri="u",
                             nonce="n", algorithm="SHA-1"),
    lambda: compute_response(username="u", realm="r", password="p", method="M", uri="u",
                             nonce="n", algorithm=""),
    lambda: compute_response(username="u", realm="r", password="p", method="M", uri="u",
                             nonce="n", qop="auth-conf", nc="00000001", cnonce="c"),
    lambda: compute_response(username="u", realm="r", password="p", method="M", uri="u",
                             nonce="n", qop="auth"),
    lambda: compute_response(username="u", realm="r", method="M", uri="u", nonce="n"),
    lambda: compute_response(username="u", realm="r", password="p", ha1="h", method="M",
                             uri="u", nonce="n"),
    lambda: compute_response(username="u", realm="r", password="p", method="M", uri="u",
                             nonce="n", algorithm="MD5-sess"),
    lambda: ha1("u", "r", "p", "SHA-512"),
    lambda: ha2("M", "u", "MD5", "auth-conf"),
    lambda: verify(Credentials(username="u", realm="r", nonce="n", uri="u", response="x",
                               algorithm="AKAv1-MD5"), method="M", password="p"),
    lambda: build_credentials(Challenge(realm="r", nonce="n", algorithm="SHA-1"),
                              username="u", password="p", method="M", uri="u", cnonce="c"),
    lambda: build_credentials(Challenge(scheme="Basic"), username="u", password="p",
                              method="M", uri="u", cnonce="c"),
    lambda: build_credentials(Challenge(realm="r", nonce="n"), username="u", password="p",
                              method="M", uri="u", cnonce="c", nc=0),
])
def test_value_errors(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_verify_is_false_for_odd_responses_and_other_schemes() -> None:
    cr = parse_credentials(RFC2617_CREDENTIALS.replace("6629fae4", "\u00e96629fae4"))
    assert not verify(cr, method="GET", password="Circle Of Life")
    upper = parse_credentials(RFC2617_CREDENTIALS.replace("6629fae4", "6629FAE4"))
    assert verify(upper, method="GET", password="Circle Of Life")
    assert not verify(parse_credentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), method="GET",
                      password="open sesame")


# --- parse tables

CHALLENGES = [
    # Kamailio auth_challenge
    (f'Digest realm="example.com", nonce="{NONCE}", qop="auth"',
     Challenge(realm="example.com", nonce=NONCE, qop=("auth",))),
    # Kamailio with stale nonce and algorithm (RFC 8760)
    ('Digest realm="sip.example.org", nonce="Zf3k1a", opaque="", stale=true, '
     'qop="auth,auth-int", algorithm=SHA-256',
     Challenge(realm="sip.example.org", nonce="Zf3k1a", opaque="", stale=True,
               qop=("auth", "auth-int"), algorithm="SHA-256")),
    # Asterisk (pjsip): no spaces after commas, lower-case algorithm
    ('Digest realm="asterisk",nonce="1593452312/aee1f0f0e1ea8d4b",opaque="5f1d3b0c1e8a2b9d",'
     'algorithm=md5,qop="auth"',
     Challenge(realm="asterisk", nonce="1593452312/aee1f0f0e1ea8d4b",
               opaque="5f1d3b0c1e8a2b9d", algorithm="md5", qop=("auth",))),
    # chan_sip: algorithm first, no qop
    ('Digest algorithm=MD5, realm="asterisk", nonce="3c5d3a9e"',
     Challenge(realm="asterisk", nonce="3c5d3a9e", algorithm="MD5")),
    # LWS around '=' and ',', tabs, case, quoted algorithm, unquoted qop, stale=FALSE
    ('  digest\tRealm = "a b" ,NONCE= "n" , algorithm="MD5-sess",qop=auth, stale=FALSE ,',
     Challenge(scheme="digest", realm="a b", nonce="n", algorithm="MD5-sess",
               qop=("auth",))),
    # quoted-pairs, commas inside quotes, domain list, unknown params kept in order
    (r'Digest realm="say \"hi\", \\ ok", domain="sip:a.com sip:b.com", nonce="x,y",'
     r' x-foo=bar, charset="UTF-8", x-foo=baz',
     Challenge(realm='say "hi", \\ ok', domain="sip:a.com sip:b.com", nonce="x,y",
               other=(("x-foo", "bar"), ("charset", "UTF-8"), ("x-foo", "baz")))),
    # unquoted nonce with base64 characters (lenient)
    ('Digest realm=example.com, nonce=abc/def+==', Challenge(realm="example.com",
                                                             nonce="abc/def+==")),
    # other schemes are kept for forwarding
    ('Basic realm="WallyWorld"', Challenge(scheme="Basic", other=(("realm", "WallyWorld"),))),
    ('Bearer realm="atlanta.com", scope="sip", authz_server="https://as.example.com/token"',
     Challenge(scheme="Bearer", other=(("realm", "atlanta.com"), ("scope", "sip"),
                                       ("authz_server", "https://as.example.com/token")))),
    ("Negotiate", Challenge(scheme="Negotiate")),
]


@pytest.mark.parametrize("value,expected", CHALLENGES)
def test_parse_challenge(value: str, expected: Challenge) -> None:
    got = parse_challenge(value)
    assert got == expected
    assert parse_challenge(format_challenge(got)) == got


RESPONSE = "6b9a6d61ad17c8f1b4e4e3c1e83b5a41"
CREDENTIALS = [
    # the brief's form: Kamailio's own uac module, linphone
    (f'Digest username="alice", realm="example.com", nonce="{NONCE}", uri="sip:example.com", '
     f'response="{RESPONSE}", algorithm=MD5, cnonce="abc", qop=auth, nc=00000001',
     Credentials(username="alice", realm="example.com", nonce=NONCE, uri="sip:example.com",
                 response=RESPONSE, algorithm="MD5", cnonce="abc", qop="auth",
                 nc="00000001")),
    # sipp: no spaces, odd order
    (f'Digest username="sipp",realm="example.com",cnonce="6b8b4567",nc=00000001,qop=auth,'
     f'uri="sip:127.0.0.1:5060",nonce="{NONCE}",response="{RESPONSE}",algorithm=MD5',
     Credentials(username="sipp", realm="example.com", cnonce="6b8b4567", nc="00000001",
                 qop="auth", uri="sip:127.0.0.1:5060", nonce=NONCE, response=RESPONSE,
                 algorithm="MD5")),
    # baresip: opaque echoed, no algorithm, upper-case hex nc
    (f'Digest username="bob", realm="example.com", nonce="{NONCE}", '
     f'uri="sip:bob@example.com;transport=tcp", response="{RESPONSE}", '
     f'cnonce="0a0b0c0d", opaque="6e6f6e63", qop=auth-int, nc=0000000A',
     Credentials(username="bob", realm="example.com", nonce=NONCE,
                 uri="sip:bob@example.com;transport=tcp", response=RESPONSE,
                 cnonce="0a0b0c0d", opaque="6e6f6e63", qop="auth-int", nc="0000000A")),
    # RFC 2069 form (no qop), user@domain username (Kamailio ha1b), RFC 7616 username*
    (f'Digest username="a@example.com", realm="example.com", nonce="n", uri="sip:x", '
     f'response="{RESPONSE}", username*=UTF-8\'\'a%40example.com, Userhash=false',
     Credentials(username="a@example.com", realm="example.com", nonce="n", uri="sip:x",
                 response=RESPONSE, other=(("username*", "UTF-8''a%40example.com"),))),
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
     Credentials(scheme="Basic", token68="QWxhZGRpbjpvcGVuIHNlc2FtZQ==")),
    ("Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl",
     Credentials(scheme="Bearer", token68="eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl")),
]


@pytest.mark.parametrize("value,expected", CREDENTIALS)
def test_parse_credentials(value: str, expected: Credentials) -> None:
    got = parse_credentials(value)
    assert got == expected
    assert parse_credentials(format_credentials(got)) == got


def test_format_quoting_follows_rfc7616() -> None:
    ch = Challenge(realm="r", nonce="n", opaque="o", stale=True, algorithm="SHA-256",
                   qop=("auth", "auth-int"), domain="sip:r")
    assert format_challenge(ch) == ('Digest realm="r", domain="sip:r", nonce="n", '
                                    'opaque="o", stale=true, algorithm=SHA-256, '
                                    'qop="auth,auth-int"')
    cr = parse_credentials(RFC2617_CREDENTIALS)
    assert format_credentials(cr) == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001')
    assert format_credentials(Credentials(scheme="Basic", token68="QQ==")) == "Basic QQ=="


# --- errors

BAD_VALUES = [
    "", "   ", ",", '"Digest"', "Digest,realm=x", "=x", "Digest realm",
    'Digest realm="abc', 'Digest realm="abc\\', 'Digest realm="a" nonce="b"',
    "Digest realm=", "Digest realm=,nonce=x", 'Digest realm="a", =x', 'Digest realm="a", nonce',
    'Digest realm="a\r\nb", nonce=x', 'Digest realm="a\x00", nonce=x',
    'Digest realm="a", nonce="b", realm="c"', 'Digest realm="a", nonce="b", x="\\\n"',
    "Basic realm=\"a\" b", "Foo a=b c", "\u00e9 x=y", "Digest \u00e9=1",
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_parse_errors(value: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        with pytest.raises(ParseError) as info:
            parse(value)
        assert info.value.status == 400


@pytest.mark.parametrize("value", [
    'Digest nonce="b"', 'Digest realm="a"', 'Digest realm="a", nonce="b", qop="auth int"',
    'Digest realm="a", nonce="b", qop="auth;x"',
])
def test_challenge_errors(value: str) -> None:
    with pytest.raises(ParseError):
        parse_challenge(value)


GOOD_CR = 'Digest username="u", realm="r", nonce="n", uri="sip:r", response="x"'


@pytest.mark.parametrize("value", [
    'Digest realm="r", nonce="n", uri="sip:r", response="x"',
    'Digest username="u", realm="r", nonce="n", uri="sip:r"',
    GOOD_CR + ", qop=auth, cnonce=c", GOOD_CR + ", qop=auth, nc=00000001",
    GOOD_CR + ', qop="auth,auth-int", nc=00000001, cnonce=c',
    GOOD_CR + ", qop=auth, nc=1, cnonce=c", GOOD_CR + ", nc=0000000g",
    GOOD_CR + ', username="v"',
])
def test_credentials_errors(value: str) -> None:
    with pytest.raises(ParseError):
        parse_credentials(value)


@pytest.mark.parametrize("call", [
    lambda: format_challenge(Challenge(realm="a\r\nVia: x", nonce="n")),
    lambda: format_challenge(Challenge(realm="a", nonce="n", qop=("auth int",))),
    lambda: format_challenge(Challenge(realm="a", nonce="n", other=(("realm", "b"),))),
    lambda: format_challenge(Challenge(scheme="Dig est", realm="a", nonce="n")),
    lambda: format_credentials(Credentials(scheme="Basic", token68="a b")),
    lambda: format_credentials(Credentials(scheme="Basic", token68="QQ==",
                                           other=(("a", "b"),))),
    lambda: format_credentials(Credentials(username="\x00")),
    lambda: format_credentials(Credentials(other=(("Upper", "b"),))),
])
def test_format_errors(call: object) -> None:
    with pytest.raises(LocalProtocolError):
        call()  # type: ignore[operator]


# --- linear time on 64 KB values

BIG = 64 * 1024


@pytest.mark.parametrize("value", [
    'Digest realm="' + '\\"' * (BIG // 2) + '", nonce="n"',
    'Digest realm="' + "a" * BIG,
    'Digest realm="a", nonce="n", ' + "x=y, " * (BIG // 5),
    "Digest " + "," * BIG + ' realm="a", nonce="n"',
    "Digest realm=" + " " * BIG + "x, nonce=n",
    "Bearer " + "A" * BIG + "=" * 8,
    "Digest " + "a" * BIG,
    "Digest " + "a=b " * (BIG // 4),
])
def test_big_values_parse_in_linear_time(value: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        start = time.perf_counter()
        try:
            parse(value)
        except ParseError:
            pass
        assert time.perf_counter() - start < 0.5


# --- hypothesis

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
texts = st.text(st.characters(blacklist_characters="\r\n\x00"), max_size=20)
maybe_texts = st.none() | texts
hex8 = st.text("0123456789abcdefABCDEF", min_size=8, max_size=8)


def others(reserved: frozenset[str]) -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    names = tokens.map(str.lower).filter(lambda n: n not in reserved)
    return st.lists(st.tuples(names, texts), max_size=4).map(tuple)


CH_FIELDS = frozenset({"realm", "nonce", "algorithm", "qop", "opaque", "stale", "domain",
                       "userhash"})
CR_FIELDS = frozenset({"username", "realm", "nonce", "uri", "response", "algorithm",
                       "cnonce", "qop", "nc", "opaque", "userhash"})
other_schemes = tokens.filter(lambda s: s.lower() != "digest")
token68s = st.from_regex(r"\A[A-Za-z0-9._~+/-]+=*\Z")

challenges = st.builds(
    Challenge, scheme=st.sampled_from(["Digest", "digest", "DIGEST"]), realm=texts,
    nonce=texts, algorithm=st.none() | tokens | texts, qop=st.lists(tokens, max_size=3).map(tuple),
    opaque=maybe_texts, stale=st.booleans(), domain=maybe_texts, userhash=st.booleans(),
    other=others(CH_FIELDS),
) | st.builds(Challenge, scheme=other_schemes, other=others(frozenset())) \
  | st.builds(Challenge, scheme=other_schemes, token68=token68s)


@st.composite
def credentials(draw: st.DrawFn) -> Credentials:
    if draw(st.integers(0, 5)) == 0:
        return Credentials(scheme=draw(other_schemes), token68=draw(st.none() | token68s))
    qop = draw(st.none() | tokens)
    return Credentials(
        scheme=draw(st.sampled_from(["Digest", "digest"])), username=draw(texts),
        realm=draw(texts), nonce=draw(texts), uri=draw(texts), response=draw(texts),
        algorithm=draw(st.none() | tokens | texts),
        cnonce=draw(texts if qop else maybe_texts), qop=qop,
        nc=draw(hex8 if qop else st.none() | hex8), opaque=draw(maybe_texts),
        userhash=draw(st.booleans()), other=draw(others(CR_FIELDS)))


@given(challenges)
def test_challenge_round_trip(ch: Challenge) -> None:
    text = format_challenge(ch)
    assert parse_challenge(text) == ch
    assert format_challenge(parse_challenge(text)) == text


@given(credentials())
def test_credentials_round_trip(cr: Credentials) -> None:
    text = format_credentials(cr)
    assert parse_credentials(text) == cr
    assert format_credentials(parse_credentials(text)) == text


def _parse_or_parse_error(value: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        try:
            got = parse(value)
        except ParseError:
            continue
        # whatever parses must also format and parse back to itself
        fmt = format_challenge if parse is parse_challenge else format_credentials
        assert parse(fmt(got)) == got  # type: ignore[arg-type]


@settings(max_examples=500)
@given(st.text())
def test_random_text_raises_only_parse_error(value: str) -> None:
    _parse_or_parse_error(value)


@settings(max_examples=500)
@given(st.lists(st.sampled_from(['Digest', ' ', '\t', ',', '=', '"', '\\', 'realm', 'nonce',
                                 'qop', 'nc', 'auth', '00000001', 'x', '\r\n', 'username',
                                 'uri', 'response', 'cnonce', 'Basic', '==', '\x00', 'é']),
                max_size=40).map("".join))
def test_header_like_text_raises_only_parse_error(value: str) -> None:
    _parse_or_parse_error(value)


@given(challenges.filter(lambda c: c.is_digest), st.integers(0, 200), texts)
def test_mutated_challenges_raise_only_parse_error(ch: Challenge, cut: int, junk: str) -> None:
    text = format_challenge(ch)
    _parse_or_parse_error(text[:cut] + junk + text[cut:])
    _parse_or_parse_error(text[:cut])
