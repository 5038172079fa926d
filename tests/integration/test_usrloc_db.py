"""usrloc's database modes, the expiry event, database outages and multi-domain, with
`geosip run` as a real process, sipp as the phones and real SQLite/PostgreSQL:

- db_mode 1: a registration survives a restart of geosip (sipp registers, geosip stops
  and starts again, an INVITE for the user reaches the sipp UAS), on both databases;
- db_mode 3: two geosip processes on one PostgreSQL share registrations (register
  through one, call through the other);
- the usrloc:contact-expired event callback runs when the timer removes a binding, with
  $ulc(exp=>aor) and $ulc(exp=>addr) (the script logs them; the test reads stderr);
- PostgreSQL stopped: REGISTER (registrar save) and INVITE (lookup, db_mode 3) get 500,
  quickly; started again: REGISTER gets 200 without restarting geosip. An SQLite file
  that cannot be opened stops `geosip run` at start with a message naming it;
- use_domain 1 (usrloc, auth_db) with the domain module: alice@a.example and
  alice@b.example are two users, each with her own password and phone.
Scripts are scripts/default.lua with the module parameters set (derived at run time).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.accounts import Accounts, make_accounts, sqlite_url
from tests.support.scripts import AUTH_MODULES, DEFAULT

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult
from .conftest import PgCluster, Server, fresh_pg_database, geosip_command
from .test_register_auth import send_raw

MODULES = re.compile(r"modules = \{([^}]*)\}")


def script(folder: Path, name: str, params: str, *, auth: bool = False,
           more_modules: str = "", append: str = "") -> Path:
    """default.lua with `params` (Lua: usrloc = { db_mode = 1 }, ...) in its modules
    table; without auth and auth_db unless `auth`."""
    text = DEFAULT.read_text()
    found = MODULES.search(text)
    assert found and '"usrloc"' in found[1] and AUTH_MODULES in found[1], \
        f"{DEFAULT} no longer loads usrloc{AUTH_MODULES}"
    names = found[1]
    for keyed in re.findall(r"(\w+) = \{", params):  # named once: with its parameters
        names = re.sub(rf'\s*"{keyed}",|,\s*"{keyed}"', "", names, count=1)
    if not auth:
        names = names.replace(AUTH_MODULES, "", 1)
    names = names.rstrip() + more_modules + " "
    text = text[:found.start()] + f"modules = {{ {params}, {names}}}" + text[found.end():]
    target = folder / f"{name}.lua"
    target.write_text(text + append)
    return target


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return make_accounts(sqlite_url(tmp_path), tmp_path).url
    url = fresh_pg_database(request.getfixturevalue("postgres_url"), "ul")
    return make_accounts(url, tmp_path).url


def explain(*parts: Proxy | SippResult) -> str:
    return "\n\n".join(p.report(60) if isinstance(p, SippResult) else
                       "==== geosip log:\n" + p.log()[-6000:] for p in parts)


def register_callee(sipp: Callable[..., Sipp], p: Proxy, port: int,
                    free_port: Callable[..., int]) -> SippResult:
    return sipp("register", SCENARIOS / "register_uac.xml", port=free_port(),
                remote=p.addr(), keys={"user": "alice", "contact_port": str(port)}).run()


def call(sipp: Callable[..., Sipp], p: Proxy, free_port: Callable[..., int],
         callee: str = "alice", scenario: Path = SCENARIOS / "call_aor_uac.xml",
         keys: dict[str, str] | None = None) -> SippResult:
    return sipp(f"call-{p.port}", scenario, port=free_port(), remote=p.addr(),
                keys={"callee": callee, **(keys or {})}).run()


def raw_register(p: Proxy, user: str, contact_port: int, cseq: int, expires: int) -> str:
    text = (f"REGISTER sip:{p.addr()} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{contact_port};branch=z9hG4bK-raw-{cseq}-{time.time_ns()}\r\n"
            f"From: <sip:{user}@{HOST}>;tag=raw{cseq}\r\nTo: <sip:{user}@{HOST}>\r\n"
            f"Call-ID: raw-{user}-{contact_port}\r\nCSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{user}@{HOST}:{contact_port}>\r\nExpires: {expires}\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    return send_raw("udp", p.addr(), text)


def test_registrations_survive_a_restart_in_db_mode_1(
    db_url: str, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    lua = script(tmp_path, "mode1", "usrloc = { db_mode = 1 }")
    first = proxy("-c", str(lua), "--db", db_url)
    callee = sipp("callee", BENCH / "uas.xml", port=free_port()).start().wait_listening()
    registered = register_callee(sipp, first, callee.port, free_port)
    assert (registered.returncode, registered.successful) == (0, 1), explain(first, registered)
    assert first.server.stop() == 0

    second = proxy("-c", str(lua), "--db", db_url)
    second.server.wait_for("usrloc: location loaded, 1 bindings of 1 AORs")
    caller = call(sipp, second, free_port)
    answered = callee.wait()
    context = explain(second, caller, answered)
    assert (caller.returncode, caller.successful, answered.returncode) == (0, 1, 0), context
    [invite] = answered.received("INVITE")
    assert invite.uri == f"sip:alice@{HOST}:{callee.port}", context
    second.assert_no_tracebacks()


def test_two_servers_share_registrations_in_db_mode_3(
    postgres_url: str, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    url = make_accounts(fresh_pg_database(postgres_url, "ul3"), tmp_path).url
    lua = script(tmp_path, "mode3", "usrloc = { db_mode = 3 }")
    one = proxy("-c", str(lua), "--db", url)
    two = proxy("-c", str(lua), "--db", url, "--data-dir", str(tmp_path / "second"))
    callee = sipp("callee", BENCH / "uas.xml", port=free_port()).start().wait_listening()
    registered = register_callee(sipp, one, callee.port, free_port)
    assert (registered.returncode, registered.successful) == (0, 1), explain(one, registered)
    caller = call(sipp, two, free_port)
    answered = callee.wait()
    context = explain(one, two, caller, answered)
    assert (caller.returncode, caller.successful, answered.returncode) == (0, 1, 0), context
    # and an unregistration through the second is seen by the first
    assert raw_register(two, "alice", callee.port, 2, 0).startswith("SIP/2.0 200 "), context
    refused = call(sipp, one, free_port)
    assert [m.status for m in refused.finals()] == [404], explain(one, refused)
    one.assert_no_tracebacks()
    two.assert_no_tracebacks()


EXPIRED = """
function ksr_contact_expired(evname)
  KSR.log("info", "EVENT " .. evname .. " aor=" .. KSR.pv.get("$ulc(exp=>aor)")
          .. " addr=" .. KSR.pv.get("$ulc(exp=>addr)") .. "\\n")
end
"""


@pytest.mark.parametrize("db_mode", [0, 1])
def test_the_contact_expired_event_runs_the_callback(
    proxy: Callable[..., Proxy], free_port: Callable[..., int], tmp_path: Path, db_mode: int,
) -> None:
    lua = script(tmp_path, "expiry",
                 f"usrloc = {{ db_mode = {db_mode}, timer_interval = 1, "
                 'event_callback = "ksr_contact_expired" }, registrar = { min_expires = 1 }',
                 append=EXPIRED)
    p = proxy("-c", str(lua), "--db", sqlite_url(tmp_path))
    port = free_port()
    answer = raw_register(p, "carol", port, 1, 2)
    assert answer.startswith("SIP/2.0 200 "), answer + explain(p)
    line = p.server.wait_for("EVENT usrloc:contact-expired", timeout=20)  # 1 s expiry + 1 s timer; generous under load
    assert f"aor=carol addr=sip:carol@{HOST}:{port}" in line, explain(p)
    p.assert_no_tracebacks()


def test_postgres_down_gives_500_and_geosip_reconnects(
    pg_cluster: PgCluster, proxy: Callable[..., Proxy], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    url = make_accounts(pg_cluster.url, tmp_path).url
    lua = script(tmp_path, "mode3", "usrloc = { db_mode = 3 }")
    p = proxy("-c", str(lua), "--db", url)
    port = free_port()
    assert raw_register(p, "alice", port, 1, 300).startswith("SIP/2.0 200 "), explain(p)

    pg_cluster.stop()
    began = time.monotonic()
    down = raw_register(p, "alice", port, 2, 300)
    assert down.startswith("SIP/2.0 500 "), down + explain(p)
    invite = (f"OPTIONS sip:alice@{p.addr()} SIP/2.0\r\n"
              f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-opt-{time.time_ns()}\r\n"
              f"From: <sip:bob@{HOST}>;tag=b1\r\nTo: <sip:alice@{HOST}>\r\n"
              "Call-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
              "Content-Length: 0\r\n\r\n")
    looked_up = send_raw("udp", p.addr(), invite)
    assert looked_up.startswith("SIP/2.0 500 "), looked_up + explain(p)
    assert time.monotonic() - began < 3, "a request waited for the database"

    pg_cluster.start()
    back = raw_register(p, "alice", port, 3, 300)
    assert back.startswith("SIP/2.0 200 "), back + explain(p)
    assert re.search(rf"<sip:alice@{HOST}:{port}>;expires=(300|299)", back), back
    p.assert_no_tracebacks()


def test_an_sqlite_file_that_cannot_be_opened_stops_the_start(
    start: Callable[..., Server], free_port: Callable[..., int], tmp_path: Path,
) -> None:
    folder = tmp_path / "not-a-file"
    folder.mkdir()
    url = f"sqlite:///{folder}"
    server = start("-l", f"udp:{HOST}:{free_port()}", "--db", url)
    assert server.proc.wait(timeout=30) == 1
    line = server.wait_for("geosip: ")
    assert line == f"geosip: database unavailable at {url}: unable to open database file"


def test_two_domains_two_alices(
    db_url: str, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    accounts = Accounts(db_url, tmp_path)
    accounts.add("alice@a.example", "apple")
    accounts.add("alice@b.example", "banana")
    accounts.ctl("domain", "add", "a.example")
    accounts.ctl("domain", "add", "b.example")
    lua = script(tmp_path, "domains", "usrloc = { use_domain = 1, db_mode = 1 }, "
                 "auth_db = { use_domain = 1 }", auth=True, more_modules=', "domain"')
    p = proxy("-c", str(lua), "--db", db_url, "--alias", "a.example", "--alias", "b.example")
    phones = {d: sipp(f"phone-{d}", BENCH / "uas.xml", port=free_port()).start()
              .wait_listening() for d in ("a", "b")}

    def register(domain: str, password: str, phone: Sipp) -> list[int | None]:
        result = sipp(f"reg-{domain}-{password}", SCENARIOS / "register_auth_uac.xml",
                      port=free_port(), remote=p.addr(),
                      keys={"user": "alice", "domain": f"{domain}.example",
                            "contact_port": str(phone.port)},
                      extra=["-au", "alice", "-ap", password]).run()
        return [m.status for m in result.finals()]

    # each alice with her own password; the other's is wrong
    assert register("a", "banana", phones["a"]) == [401, 401], explain(p)
    assert register("a", "apple", phones["a"]) == [401, 200], explain(p)
    assert register("b", "banana", phones["b"]) == [401, 200], explain(p)

    # a call to each reaches that alice's phone, not the other's
    scenario = tmp_path / "call_domain_uac.xml"
    scenario.write_text((SCENARIOS / "call_aor_uac.xml").read_text().replace(
        "[callee]@[remote_ip]:[remote_port]", "[callee]@[domain]"))
    for domain in ("a", "b"):
        caller = call(sipp, p, free_port, scenario=scenario,
                      keys={"domain": f"{domain}.example"})
        answered = phones[domain].wait()
        context = explain(p, caller, answered)
        assert (caller.returncode, caller.successful, answered.returncode) == (0, 1, 0), \
            context
        [invite] = answered.received("INVITE")
        assert re.match(rf"sip:alice@{HOST}:{phones[domain].port};transport=UDP", invite.uri), \
            context
    p.assert_no_tracebacks()
