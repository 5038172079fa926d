"""Registration with digest authentication through scripts/default.lua (auth, auth_db,
registrar, usrloc in memory), as an operator sets it up: `geosipctl db init` and
`geosipctl subscriber add alice@example.com secret` as subprocesses, then `geosip run
--db URL --alias example.com`; sipp registers with its [authentication] keyword (-au/-ap)
over UDP and TCP, on SQLite and on PostgreSQL.

What a user notices, as Kamailio's kamailio.cfg (WITH_AUTH) answers:
- REGISTER -> 401 with a challenge (qop="auth"); with the right password -> 200 listing
  the contact; answering the same challenge again with the next nc is fine (RFC 7616
  §3.4, a phone does that), but the captured request sent again is refused (401,
  stale=true) and changes nothing;
- a wrong password, or a user nobody added, gets a fresh 401 again (auth_check < 0 ->
  auth_challenge) and nothing is registered;
- a registered user is then reached by a caller from outside (lookup("location")),
  a WebSocket client too (RFC 7118, issue 3 item 5), over its own connection, and the
  whole call completes: the caller's ACK and BYE reach the client through the Contact
  alias (nathelper);
- a phone behind NAT (a private Contact that is not its source address) is reached at
  its source address, and so are the requests within the call.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.accounts import Accounts, make_accounts, sqlite_url
from tests.support.wsclient import WsSipClient, authorization

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SipMessage, SippResult
from .conftest import fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scripts" / "default.lua"
DOMAIN = "example.com"
TRANSPORTS = {"udp": "u1", "tcp": "t1"}


@pytest.fixture(params=["sqlite", "postgres"])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Accounts:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = fresh_pg_database(request.getfixturevalue("postgres_url"), "reg")
    return make_accounts(url, tmp_path)


@pytest.fixture
def server(accounts: Accounts, proxy: Callable[..., Proxy]) -> Proxy:
    accounts.add(f"alice@{DOMAIN}", "secret")
    return proxy("-c", str(DEFAULT), "--db", accounts.url, "--alias", DOMAIN)


def explain(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report(80) for r in results), "==== geosip log:",
                        p.log()[-12000:]])


def register(sipp: Callable[..., Sipp], p: Proxy, name: str, transport: str, user: str,
             password: str, contact_port: int, port: int,
             scenario: str = "register_auth_uac.xml") -> SippResult:
    return sipp(name, SCENARIOS / scenario, port=port, remote=p.addr(),
                transport=TRANSPORTS[transport],
                keys={"user": user, "domain": DOMAIN, "contact_port": str(contact_port)},
                extra=["-au", user, "-ap", password]).run()


def statuses(result: SippResult) -> list[int | None]:
    return [m.status for m in result.finals()]


def challenge(message: SipMessage) -> dict[str, str]:
    [value] = message.header("WWW-Authenticate")
    assert value.startswith("Digest "), value
    return {k.lower(): v.strip('"') for k, v in
            re.findall(r'(\w+)=("[^"]*"|[^\s,]+)', value[len("Digest "):])}


def contacts(message: SipMessage) -> list[str]:
    return [c for value in message.header("Contact") for c in value.split(",")]


def send_raw(transport: str, addr: str, text: str) -> str:
    """One request from a socket of our own; the first response to it."""
    host, port = addr.rsplit(":", 1)
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(5)
        sock.connect((host, int(port)))
        sock.sendall(text.encode())
        data = b""
        while b"\r\n\r\n" not in data:  # a REGISTER's answers carry no body
            chunk = sock.recv(65535)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_the_password_then_a_replay_is_refused(
    server: Proxy, sipp: Callable[..., Sipp], free_port: Callable[..., int], transport: str,
) -> None:
    p = server
    port = free_port()
    first = register(sipp, p, "register", transport, "alice", "secret", port, port)
    context = explain(p, first)
    assert (first.returncode, statuses(first)) == (0, [401, 200]), context
    [asked] = first.received("REGISTER", 401)
    params = challenge(asked)
    assert (params["realm"], params["qop"], params.get("algorithm")) == (
        DOMAIN, "auth", "MD5"), context
    [ok] = first.received("REGISTER", 200)
    mine = f"<sip:alice@{HOST}:{port};transport={transport.upper()}>;expires=300"
    assert contacts(ok) == [mine], context

    # The same challenge answered again with nc=2 (a phone re-registering) is fine.
    port2 = free_port()
    again = register(sipp, p, "reuse", transport, "alice", "secret", port2, port2,
                     "register_auth_reuse_uac.xml")
    context = explain(p, again)
    assert (again.returncode, statuses(again)) == (0, [401, 200, 200]), context
    [_, authorized] = again.sent("REGISTER")[1:]
    assert "nc=00000002" in authorized.header("Authorization")[0], context

    # That last REGISTER, captured and sent again (a new branch, so that it is a new
    # transaction and not a retransmission), with a Contact of the attacker's: the
    # nonce was used with that nc already (auth nonce_count) -> 401, stale=true.
    attacker = f"<sip:alice@{HOST}:9;transport={transport.upper()}>"
    replay = re.sub(r";branch=[^;\s]+", ";branch=z9hG4bK-replay", authorized.text, count=1)
    replay = re.sub(r"(?m)^Contact: .*$", f"Contact: {attacker}", replay)
    answer = send_raw(transport, p.addr(), replay.replace("\n", "\r\n") + "\r\n\r\n")
    context = f"==== replayed:\n{replay}\n==== answer:\n{answer}\n" + explain(p, again)
    assert answer.startswith("SIP/2.0 401 "), context
    assert re.search(r"(?mi)^WWW-Authenticate: Digest .*stale=true", answer), context
    assert ":9;" not in answer, context  # not registered: no contact listed

    p.assert_no_tracebacks()


def test_wrong_password_and_unknown_user_get_a_new_challenge(
    server: Proxy, sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    p = server
    port = free_port()
    wrong = register(sipp, p, "wrong-password", "udp", "alice", "not-the-secret", port, port)
    unknown = register(sipp, p, "unknown-user", "udp", "mallory", "secret", port, port)
    context = explain(p, wrong, unknown)
    for result in (wrong, unknown):
        assert (result.returncode, statuses(result)) == (0, [401, 401]), context
        first, second = result.received("REGISTER", 401)
        # a fresh nonce, not stale: the phone asks its user for the password
        assert challenge(second)["nonce"] != challenge(first)["nonce"], context
        assert "stale" not in challenge(second), context
        assert not second.header("Contact"), context

    # Nothing was registered: a call to alice gets 404 (Kamailio's ksr_route_location).
    caller = sipp("caller", SCENARIOS / "call_aor_uac.xml", port=free_port(),
                  remote=p.addr(), keys={"callee": "alice"}).run()
    context = explain(p, caller)
    assert (caller.returncode, statuses(caller)) == (0, [404]), context
    p.assert_no_tracebacks()


def test_a_registered_subscriber_is_called_by_a_stranger(
    server: Proxy, sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    p = server
    callee = sipp("callee", BENCH / "uas.xml", port=free_port()).start().wait_listening()
    registered = register(sipp, p, "register", "udp", "alice", "secret", callee.port,
                          free_port())
    # From sip:sipp@127.0.0.1:<sipp's port>: not one of our domains, so no credentials
    # are asked for; the Request-URI is ours, so it is no relaying (ksr_route_auth).
    caller = sipp("caller", SCENARIOS / "call_aor_uac.xml", port=free_port(),
                  remote=p.addr(), keys={"callee": "alice"}).run()
    answered = callee.wait()
    context = explain(p, registered, caller, answered)
    assert statuses(registered) == [401, 200], context
    assert (caller.returncode, caller.successful, answered.returncode) == (0, 1, 0), context
    [invite] = answered.received("INVITE")
    assert invite.uri == f"sip:alice@{HOST}:{callee.port};transport=UDP", context
    p.assert_no_tracebacks()


def test_a_websocket_client_registers_with_its_password_and_is_called(
    accounts: Accounts, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int],
) -> None:
    """Issue 3 item 5: a WebSocket client (RFC 7118) registering and being called: the
    call from a sipp caller reaches it over its own connection, found by lookup."""
    accounts.add(f"alice@{DOMAIN}", "secret")
    p = proxy("-c", str(DEFAULT), "--db", accounts.url, "--alias", DOMAIN,
              ws_port=free_port())
    registrar, aor = f"sip:{DOMAIN}", f"sip:alice@{DOMAIN}"
    with WsSipClient(p.addr("ws"), "alice", DOMAIN) as ws:
        def context(*results: SippResult) -> str:
            return ws.transcript() + "\n\n" + explain(p, *results)

        ws.request("REGISTER", registrar, 1, "reg1", "ws-reg", aor, "Expires: 300\r\n")
        asked = ws.response("REGISTER", 401)
        credentials = authorization(asked.first("www-authenticate"), "REGISTER", registrar,
                                    "alice", "secret")
        ws.request("REGISTER", registrar, 2, "reg2", "ws-reg", aor,
                   f"Authorization: {credentials}\r\nExpires: 300\r\n")
        ok = ws.response("REGISTER", 200)
        assert ok.values("contact") == [f"{ws.contact};expires=300"], context()

        caller = sipp("caller", SCENARIOS / "call_aor_uac.xml", port=free_port(),
                      remote=p.addr(), keys={"callee": "alice"}, recv_timeout=3,
                      wall=15).start()
        invite = ws.incoming("INVITE")
        # the lookup made the contact the Request-URI and sent it over the client's
        # own connection (the contact's host is a made-up .invalid name)
        assert invite.start == f"INVITE {ws.contact.strip('<>')} SIP/2.0", context()
        ws.answer(invite, 180, "Ringing")
        ws.answer(invite, 200, "OK", f"Contact: {ws.contact}\r\n")
        # The caller's ACK and BYE go to the client's Contact (a .invalid host): the
        # 200 reached the caller with ;alias=ip~port~5 on it (nathelper's
        # set_contact_alias in ksr_reply_route), and handle_ruri_alias sends them to
        # that address: over the client's own connection (RFC 7118 §5).
        ack = ws.incoming("ACK")
        bye = ws.incoming("BYE")
        ws.answer(bye, 200, "OK")
        called = caller.wait()
        port = ws.local_port
    context_text = context(called)
    assert (called.returncode, called.successful) == (0, 1), context_text
    [ok] = called.received("INVITE", 200)
    [contact] = ok.values("contact")
    assert re.fullmatch(rf"<{re.escape(ws.contact.strip('<>'))};alias=127\.0\.0\.1~"
                        rf"{port}~5>", contact), context_text
    # the alias went out of the Request-URI before the requests reached the client
    for request in (ack, bye):
        assert request.start.split()[1] == ws.contact.strip("<>"), context_text
    assert len(called.received("BYE", 200)) == 1, context_text
    p.assert_no_tracebacks()


PRIVATE = "192.168.1.20:5060"   # the phone's own address, behind its NAT


def register_behind_nat(addr: str, port: int, user: str, password: str) -> str:
    """A phone behind NAT registers over UDP: its Via and Contact name its private
    address, and its packets come from 127.0.0.1:port (the NAT's public side). It
    answers the digest challenge; returns the final response."""
    host, proxy_port = addr.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, port))
        sock.settimeout(5)

        def exchange(cseq: int, extra: str = "") -> str:
            text = (f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {PRIVATE};branch=z9hG4bK-nat{cseq}\r\n"
                    f"From: <sip:{user}@{DOMAIN}>;tag=nat1\r\nTo: <sip:{user}@{DOMAIN}>\r\n"
                    f"Call-ID: nat-reg@192.168.1.20\r\nCSeq: {cseq} REGISTER\r\n"
                    f"Max-Forwards: 70\r\nContact: <sip:{user}@{PRIVATE}>\r\n"
                    f"Expires: 300\r\n{extra}Content-Length: 0\r\n\r\n")
            sock.sendto(text.encode(), (host, int(proxy_port)))
            while True:
                answer = sock.recv(65535).decode(errors="replace")
                if not answer.startswith("SIP/2.0 1"):
                    return answer

        asked = exchange(1)
        found = re.search(r"(?mi)^WWW-Authenticate: *(.*?)\r?$", asked)
        assert found, asked
        credentials = authorization(found.group(1), "REGISTER", f"sip:{DOMAIN}", user,
                                    password)
        return exchange(2, f"Authorization: {credentials}\r\n")


def test_a_phone_behind_nat_is_reached_at_its_source_address(
    server: Proxy, sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    """Issue 5: the registrar keeps where a NATed phone's REGISTER came from (nathelper's
    fix_nated_register in default.lua), lookup sends the INVITE there, and the phone's
    private Contact in its 200 gets ;alias so that the caller's ACK and BYE reach it
    through the NAT too (handle_ruri_alias). Without the REGISTER's rport, so the 401
    and 200 go back to the source only because the script forces rport."""
    p = server
    port = free_port()
    answer = register_behind_nat(p.addr(), port, "alice", "secret")
    assert answer.startswith("SIP/2.0 200 "), answer + explain(p)
    # the phone behind the NAT answers on the NAT's public port (the socket is free again)
    callee = sipp("phone", SCENARIOS / "nat_phone_uas.xml", port=port,
                  keys={"user": "alice", "private": PRIVATE}).start().wait_listening()
    caller = sipp("caller", SCENARIOS / "call_aor_uac.xml", port=free_port(),
                  remote=p.addr(), keys={"callee": "alice"}).run()
    answered = callee.wait()
    context = explain(p, caller, answered)
    assert (caller.returncode, caller.successful, answered.returncode) == (0, 1, 0), context
    [invite] = answered.received("INVITE")
    assert invite.uri == f"sip:alice@{PRIVATE}", context
    [ok] = caller.received("INVITE", 200)
    assert ok.values("contact") == [f"<sip:alice@{PRIVATE};alias={HOST}~{port}~1>"], context
    for method in ("ACK", "BYE"):
        [request] = answered.received(method)
        assert request.uri == f"sip:alice@{PRIVATE}", context   # the alias went out
    p.assert_no_tracebacks()
