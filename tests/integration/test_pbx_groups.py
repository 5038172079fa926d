"""scripts/pbx-groups.lua, the within-group short dialing of Kamailio's slides, run by
`geosip run` on SQLite and on PostgreSQL: the subscriber table gets the example's
pbxgroupid column (ALTER TABLE, as the slide does) and a pbxgroups table; auth_db's
load_credentials puts the caller's group into $avp(pbxgroupid), and one sql_query
turns the short number into the member's extension. What a user notices: alice (group
1) dials 11 and bob's phone rings with bob in the Request-URI; carol (group 2) dials
11 and gets 404; a number built to break the query finds no one either."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.accounts import Accounts, make_accounts, sqlite_url

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult
from .conftest import fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pbx-groups.lua"
DOMAIN = "example.com"

SETUP = [
    "ALTER TABLE subscriber ADD COLUMN pbxgroupid INT NOT NULL DEFAULT 0",
    """CREATE TABLE pbxgroups (
         id {serial} PRIMARY KEY,
         pbxgroupid INT NOT NULL DEFAULT 0,
         shortdial VARCHAR(16) NOT NULL DEFAULT '',
         extension VARCHAR(64) NOT NULL DEFAULT '',
         CONSTRAINT pg_u UNIQUE (pbxgroupid, shortdial))""",
    "UPDATE subscriber SET pbxgroupid = 1 WHERE username IN ('alice', 'bob')",
    "UPDATE subscriber SET pbxgroupid = 2 WHERE username = 'carol'",
    "INSERT INTO pbxgroups (pbxgroupid, shortdial, extension) VALUES (1, '11', 'bob')",
    "INSERT INTO pbxgroups (pbxgroupid, shortdial, extension) VALUES (2, '12', 'dave')",
]


def execute(url: str, statements: list[str]) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            for sql in statements:
                conn.execute(sql.format(serial="INTEGER"))
        return
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql.format(serial="SERIAL"))


@pytest.fixture(params=["sqlite", "postgres"])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Accounts:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = fresh_pg_database(request.getfixturevalue("postgres_url"), "pbx")
    accounts = make_accounts(url, tmp_path)
    for user in ("alice", "bob", "carol"):
        accounts.add(f"{user}@{DOMAIN}", f"{user}-pw")
    execute(url, SETUP)
    return accounts


def explain(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report(80) for r in results), "==== geosip log:",
                        p.log()[-12000:]])


def call(sipp: Callable[..., Sipp], p: Proxy, name: str, user: str, callee: str,
         port: int) -> SippResult:
    return sipp(name, SCENARIOS / "pbx_call_uac.xml", port=port, remote=p.addr(),
                keys={"user": user, "domain": DOMAIN, "callee": callee},
                extra=["-au", user, "-ap", f"{user}-pw"]).run()


def test_short_dialing_within_the_group(
    accounts: Accounts, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int],
) -> None:
    p = proxy("-c", str(SCRIPT), "--db", accounts.url, "--alias", DOMAIN)
    phone = sipp("bob-phone", BENCH / "uas.xml", port=free_port()).start().wait_listening()
    registered = sipp("register", SCENARIOS / "register_auth_uac.xml", port=free_port(),
                      remote=p.addr(), keys={"user": "bob", "domain": DOMAIN,
                                             "contact_port": str(phone.port)},
                      extra=["-au", "bob", "-ap", "bob-pw"]).run()
    alice = call(sipp, p, "alice-dials-11", "alice", "11", free_port())
    answered = phone.wait()
    context = explain(p, registered, alice, answered)
    assert [m.status for m in registered.finals()] == [401, 200], context
    assert (alice.returncode, alice.successful, answered.returncode) == (0, 1, 0), context
    [invite] = answered.received("INVITE")
    # the short number became bob's extension, and the location service his phone
    assert invite.uri == f"sip:bob@{HOST}:{phone.port};transport=UDP", context
    assert invite.header("To") == [f"<sip:11@{DOMAIN}>"], context

    carol = call(sipp, p, "carol-dials-11", "carol", "11", free_port())
    evil = call(sipp, p, "alice-dials-evil", "alice", "11'or'1'='1", free_port())
    context = explain(p, carol, evil)
    for result in (carol, evil):
        assert [m.status for m in result.finals()] == [407, 404], context
    p.assert_no_tracebacks()
