"""Requests that parse but are hostile for the registrar, auth and msilo, through
scripts/default.lua in `geosip run` (DESIGN.md "Bad input": a request that breaks the
rules gets the RFC's answer; nothing raises; no stored data is lost).

- REGISTER (RFC 3261 §10.3): a wildcard with Expires non-zero, or beside other
  Contacts, is 400 (step 6); a bad q or a negative expires is 400; an absurd expires
  is lowered to max_expires; 500 Contacts in one header are all bound (registrar
  max_contacts is 0, as Kamailio's default); a 4 KB URI, and $-signs and Lua text in
  Contact and User-Agent, are stored byte for byte, as text (never evaluated).
- Digest (RFC 7616, RFC 8760): an Authorization that is malformed (unterminated
  quotes, a huge nc, duplicate parameters, an unknown algorithm, a 10 KB response) is
  a fresh 401 and registers nothing.
- MESSAGE to an offline user with msilo (Kamailio's msilo README, RFC 3428): a 60 KB
  binary body, a body not in UTF-8 and a body without Content-Type are stored byte
  for byte (202); max_messages is enforced (503, the rows kept unchanged).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.accounts import make_accounts, sqlite_url
from tests.support.hostile import (Response, UdpPeer, keepalive, rpc_call, sip_request,
                                   tcp_final)
from tests.support.wsclient import authorization

from ._proxy import HOST, Proxy
from .test_usrloc_db import script

DOMAIN = "example.com"


@pytest.fixture
def peer() -> Iterator[Callable[[Proxy], UdpPeer]]:
    made: list[UdpPeer] = []

    def make(p: Proxy) -> UdpPeer:
        made.append(UdpPeer((HOST, p.port)))
        return made[-1]

    yield make
    for one in made:
        one.close()


def register(user: str, *headers: str) -> bytes:
    return sip_request("REGISTER", f"sip:{DOMAIN}", from_uri=f"sip:{user}@{DOMAIN}",
                       headers=list(headers))


def bindings(p: Proxy, sock: Path, user: str) -> list[dict[str, object]]:
    found = rpc_call(str(sock), "ul.lookup", "location", user)
    if "error" in found:
        assert found["error"]["code"] == 404, found
        return []
    return list(found["result"]["Contacts"])


def still_serving(p: Proxy, peer: UdpPeer) -> None:
    answer = peer.final(keepalive((HOST, p.port)))
    assert answer is not None and answer.status == 200, p.log()[-3000:]
    p.assert_no_tracebacks()


# ---- REGISTER contacts (an open registrar: default.lua without auth) -------------------

@pytest.fixture
def open_registrar(proxy: Callable[..., Proxy], tmp_path: Path) -> tuple[Proxy, Path]:
    lua = script(tmp_path, "open", 'registrar = { max_expires = 3600 }')
    sock = tmp_path / "ctl.sock"
    return proxy("-c", str(lua), "--alias", DOMAIN, "--rpc-socket", str(sock)), sock


REFUSED = {
    # RFC 3261 §10.3 step 6: "*" only with Expires: 0 and alone
    "wildcard, Expires non-zero": ("Contact: *", "Expires: 3600"),
    "wildcard, no Expires": ("Contact: *",),
    "wildcard and a contact": ("Contact: *, <sip:u@127.0.0.1:7>", "Expires: 0"),
    # RFC 3261 §20.10: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    "q above 1": ("Contact: <sip:u@127.0.0.1:7>;q=999",),
    "q not a number": ("Contact: <sip:u@127.0.0.1:7>;q=abc",),
    "q negative": ("Contact: <sip:u@127.0.0.1:7>;q=-1",),
    "q nan": ("Contact: <sip:u@127.0.0.1:7>;q=nan",),
    "expires negative": ("Contact: <sip:u@127.0.0.1:7>;expires=-5",),
    "Expires not a number": ("Contact: <sip:u@127.0.0.1:7>", "Expires: abc"),
    "unterminated <": ("Contact: <sip:u@127.0.0.1:7",),
    "port out of range": ("Contact: <sip:u@127.0.0.1:99999>",),
}


def test_hostile_contacts(open_registrar: tuple[Proxy, Path],
                          peer: Callable[[Proxy], UdpPeer]) -> None:
    p, sock = open_registrar
    udp = peer(p)
    for n, (case, headers) in enumerate(REFUSED.items()):
        answer = udp.final(register(f"bad{n}", *headers))
        assert answer is not None and answer.status == 400, (case, answer, p.log()[-3000:])
        assert bindings(p, sock, f"bad{n}") == [], case

    # An absurd expires is lowered to max_expires (RFC 3261 §10.3 step 7).
    answer = udp.final(register("huge", "Contact: <sip:u@127.0.0.1:7>;expires="
                                + "9" * 30))
    assert answer is not None and answer.status == 200, answer
    [binding] = bindings(p, sock, "huge")
    assert 0 < int(binding["Expires"]) <= 3600  # type: ignore[call-overload]

    # 500 Contacts in one header (over TCP: the 200 lists them all, 23 KB).
    many = ", ".join(f"<sip:u@10.0.{i // 250}.{i % 250}:{1000 + i}>" for i in range(500))
    answer = tcp_final((HOST, p.port), sip_request(
        "REGISTER", f"sip:{DOMAIN}", from_uri=f"sip:many@{DOMAIN}",
        headers=[f"Contact: {many}"], transport="TCP"))
    assert answer is not None and answer.status == 200, answer
    assert len([c for value in answer.header("Contact") for c in value.split(",")]) == 500
    assert len(bindings(p, sock, "many")) == 500

    # A 4 KB URI, $-signs and Lua in what is stored: kept as sent, as text.
    long_uri = "sip:" + "a" * 4096 + "@127.0.0.1:7"
    odd_uri = "sip:$(ru)@127.0.0.1:7;x=$avp(foo)"
    agent = "$(sel) ]]..os.exit()--'; DROP TABLE location; --"
    for user, uri in (("long", long_uri), ("odd", odd_uri)):
        answer = udp.final(register(user, f"Contact: <{uri}>", f"User-Agent: {agent}"))
        assert answer is not None and answer.status == 200, (user, answer)
        [binding] = bindings(p, sock, user)
        assert (binding["Address"], binding["User-Agent"]) == (uri, agent)

    assert len(bindings(p, sock, "many")) == 500  # nothing lost on the way
    still_serving(p, udp)


# ---- digest authentication and msilo (default.lua with auth, msilo) --------------------

@pytest.fixture
def server(proxy: Callable[..., Proxy], tmp_path: Path) -> tuple[Proxy, Path, str]:
    accounts = make_accounts(sqlite_url(tmp_path), tmp_path)
    accounts.add(f"alice@{DOMAIN}", "secret")
    lua = script(tmp_path, "silo", "msilo = { max_messages = 3 }", auth=True)
    sock = tmp_path / "ctl.sock"
    p = proxy("-c", str(lua), "--db", accounts.url, "--alias", DOMAIN,
              "--rpc-socket", str(sock))
    return p, sock, accounts.url


def challenge_of(answer: Response | None) -> str:
    assert answer is not None and answer.status == 401, answer
    return answer.header("WWW-Authenticate")[0]


def test_malformed_digest_credentials_get_a_fresh_challenge(
        server: tuple[Proxy, Path, str], peer: Callable[[Proxy], UdpPeer]) -> None:
    p, sock, _ = server
    udp = peer(p)
    contact = "Contact: <sip:alice@127.0.0.1:7777>"
    challenge = challenge_of(udp.final(register("alice", contact)))
    good = authorization(challenge, "REGISTER", f"sip:{DOMAIN}", "alice", "secret")
    nonce = good.split('nonce="', 1)[1].split('"', 1)[0]
    response = good.split('response="', 1)[1].split('"', 1)[0]
    cases = {
        "unterminated quote": f'Digest username="alice, realm="{DOMAIN}", nonce="{nonce}',
        "unterminated response": good.replace(f'response="{response}"', 'response="abc'),
        "huge nc": good.replace("nc=00000001", "nc=" + "f" * 5000),
        "nc not hex": good.replace("nc=00000001", "nc=zz"),
        "duplicate params": good + f', username="bob", response="{response}"',
        "algorithm unknown": good.replace("algorithm=MD5", "algorithm=ROT13"),
        "algorithm SHA-256 with an MD5 answer": good.replace("algorithm=MD5",
                                                             "algorithm=SHA-256"),
        "10 KB response": good.replace(response, "a" * 10240),
        "huge nonce": good.replace(nonce, "A" * 8000),
        "NUL in username": good.replace('username="alice"', 'username="al\x00ice"'),
        "SQL in username": good.replace('username="alice"', "username=\"alice' OR '1'='1\""),
        "no parameters": "Digest ,,,,",
        "Basic": "Basic YWxpY2U6c2VjcmV0",
    }
    for case, value in cases.items():
        answer = udp.final(register("alice", contact, f"Authorization: {value}"))
        assert answer is not None and answer.status == 401, (case, answer)
        assert bindings(p, sock, "alice") == [], case
    # the untouched credentials still work, and only then is alice bound
    answer = udp.final(register("alice", contact, f"Authorization: {good}"))
    assert answer is not None and answer.status == 200, (answer, p.log()[-3000:])
    assert [b["Address"] for b in bindings(p, sock, "alice")] == ["sip:alice@127.0.0.1:7777"]
    still_serving(p, udp)


def silo(url: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return db.execute("SELECT username, ctype, body FROM silo ORDER BY id").fetchall()


def message(user: str, body: bytes, *headers: str, transport: str = "UDP") -> bytes:
    # from a stranger to one of our users: default.lua relays it (no auth needed)
    return sip_request("MESSAGE", f"sip:{user}@{DOMAIN}", from_uri="sip:eve@evil.invalid",
                       to_uri=f"sip:{user}@{DOMAIN}", headers=list(headers), body=body,
                       transport=transport)


def test_offline_messages_are_kept_byte_for_byte_and_the_box_is_bounded(
        server: tuple[Proxy, Path, str], peer: Callable[[Proxy], UdpPeer]) -> None:
    p, _, url = server
    udp = peer(p)
    binary = bytes(range(256)) * 235                        # 60160 octets, every byte value
    answer = tcp_final((HOST, p.port), message("bob", binary, "Content-Type: "
                                               "application/octet-stream", transport="TCP"))
    assert answer is not None and answer.status == 202, (answer, p.log()[-3000:])
    latin1 = "Grüße, ça va?".encode("latin-1") + b"\xff\xfe\x00\xc3\x28"
    for body, headers in ((latin1, ("Content-Type: text/plain; charset=iso-8859-1",)),
                          (b"no type", ())):
        answer = udp.final(message("carol", body, *headers))
        assert answer is not None and answer.status == 202, (answer, p.log()[-3000:])
    expected = [("bob", "application/octet-stream", binary),
                ("carol", "text/plain; charset=iso-8859-1", latin1),
                ("carol", "text/plain", b"no type")]
    assert silo(url) == expected

    # The box of carol holds max_messages (3): the fourth is 503 and nothing changes.
    answer = udp.final(message("carol", b"third", "Content-Type: text/plain"))
    assert answer is not None and answer.status == 202, answer
    expected.append(("carol", "text/plain", b"third"))
    answer = udp.final(message("carol", b"fourth", "Content-Type: text/plain"))
    assert answer is not None and answer.status == 503, answer
    # An empty MESSAGE is not stored either (msilo: "body of the message is empty").
    answer = udp.final(message("dave", b"", "Content-Type: text/plain"))
    assert answer is not None and answer.status == 503, answer
    assert silo(url) == expected
    still_serving(p, udp)
