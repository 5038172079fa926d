"""sqlops through real Lua scripts (LuaNet: the real Core, Engine and KSR table) on an
SQLite file: the return codes of Kamailio 5.6's KEMI functions (sql_query 0 or -1,
sql_xquery 1 or -1, sql_pvquery 1/2/-1: what Kamailio 5.6.3 returned for the same
queries, see functions.py), $dbr(res=>...), sql_xquery's $xavp, sql_pvquery's variables, geosip's
sql_pquery/sql_rows/escape, and queries that wait without stalling other greenlets."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest

from geosip.modules.sqlops import mod as sqlops
from geosip.script.config import read_config
from tests.support.luanet import UAC, LuaNet, request, statuses

MODULES = ("tm", "sl", "sqlops")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pbx.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE pbxgroups (id INTEGER PRIMARY KEY, pbxgroupid INT NOT NULL DEFAULT 0,
                                    shortdial VARCHAR(16) NOT NULL DEFAULT '',
                                    extension VARCHAR(64) NOT NULL DEFAULT '');
            INSERT INTO pbxgroups (pbxgroupid, shortdial, extension)
                VALUES (1, '10', 'alice'), (1, '11', 'bob'), (2, '10', 'carol');
            CREATE TABLE notes (id INTEGER PRIMARY KEY, who TEXT, note TEXT);
            INSERT INTO notes (who, note) VALUES ('alice', NULL);
        """)
    sqlops.init({"sqlcon": [f"ca=>sqlite:///{path}"]})
    yield path
    sqlops.destroy()


def run(tmp_path: Path, body: str) -> LuaNet:
    """Run `body` as the request route of one MESSAGE; KSR.test.record collects."""
    net = LuaNet("function ksr_request_route()\n" + body + "\nend\n", tmp_path,
                 modules=MODULES)
    net.deliver(request("MESSAGE"), wait=0.3)
    return net


def test_sql_query_return_codes_and_dbr(tmp_path: Path, db: Path) -> None:
    net = run(tmp_path, """
      local r = KSR.sqlops.sql_query("ca", "select shortdial, extension from pbxgroups "
                                     .. "where pbxgroupid=1 order by shortdial", "ra")
      KSR.test.record(r)
      for _, name in ipairs({"$dbr(ra=>rows)", "$dbr(ra=>cols)", "$dbr(ra=>[0,1])",
                             "$dbr(ra=>[1,0])", "$dbr(ra=>colname[1])", "$dbr(ra=>[5,0])"}) do
        KSR.test.record(KSR.pv.get(name))
      end
      KSR.test.record(KSR.sqlops.sql_num_rows("ra") .. "x" .. KSR.sqlops.sql_num_columns("ra"))
      local rows = KSR.sqlops.sql_rows("ra")
      KSR.test.record(#rows .. " " .. rows[2].extension)
      KSR.test.record(KSR.sqlops.sql_query("ca", "select * from pbxgroups where 1=0", "ra"))
      KSR.test.record(KSR.pv.get("$dbr(ra=>rows)"))
      KSR.test.record(KSR.sqlops.sql_query("ca", "insert into notes (who) values ('bob')", "ins"))
      KSR.test.record(KSR.pv.get("$sqlrows(ca)"))
      KSR.test.record(KSR.sqlops.sql_query("ca", "select extension from pbxgroups", ""))
      KSR.test.record(KSR.sqlops.sql_query("ca", "select nonsense from nowhere", "ra"))
      KSR.sqlops.sql_query("ca", "select who, note from notes order by id", "n")
      KSR.test.record(KSR.sqlops.sql_is_null("n", 0, 1) .. KSR.sqlops.sql_is_null("n", 0, 0)
                      .. KSR.sqlops.sql_is_null("n", 9, 0))
      KSR.sqlops.sql_result_free("n")
      KSR.test.record(KSR.pv.get("$dbr(n=>rows)"))
      KSR.sl.sl_send_reply(200, "OK")
    """)
    # KEMI's sql_query is 0 for rows, none, an INSERT and no result name; -1 an error
    assert net.recorded == [0, 2, 2, "alice", "11", "extension", None, "2x2", "2 bob",
                            0, 0, 0, 1, 0, -1, "10-1", 0]
    assert statuses(net.take(UAC)) == [200]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select who from notes order by id").fetchall() == [
            ("alice",), ("bob",)]


def test_xquery_and_pvquery(tmp_path: Path, db: Path) -> None:
    net = run(tmp_path, """
      KSR.test.record(KSR.sqlops.sql_xquery("ca", "select shortdial, extension, pbxgroupid "
                      .. "from pbxgroups where pbxgroupid=1 order by shortdial", "grp"))
      KSR.test.record(KSR.pv.get("$xavp(grp=>extension)"))
      KSR.test.record(KSR.pv.get("$xavp(grp[1]=>extension)"))
      KSR.test.record(KSR.pv.get("$xavp(grp[1]=>pbxgroupid)"))
      KSR.test.record(KSR.sqlops.sql_pvquery("ca", "select shortdial, extension from "
                      .. "pbxgroups where pbxgroupid=1 order by shortdial", "$var(sd),$avp(ext)"))
      KSR.test.record(KSR.pv.get("$var(sd)"))
      KSR.test.record(KSR.pv.get("$(avp(ext)[*])"))
      KSR.test.record(KSR.sqlops.sql_pvquery("ca", "select shortdial, extension from "
                      .. "pbxgroups", "$var(only_one)"))
      KSR.test.record(KSR.sqlops.sql_xquery("ca", "select * from pbxgroups where 0", "none"))
    """)
    # sql_xquery: 1 with rows and without; sql_pvquery: 1 rows, -1 too few variables
    assert net.recorded == [1, "alice", "bob", 1, 1, "10", "alice, bob", -1, 1]


def test_parameters_escaping_and_transformations(tmp_path: Path, db: Path) -> None:
    # A quote in user input must not change the statement (SQL injection).
    evil = "10' or '1'='1"
    net = run(tmp_path, f"""
      local evil = "{evil}"
      KSR.test.record(KSR.sqlops.sql_pquery("ca", "select extension from pbxgroups "
                      .. "where pbxgroupid=? and shortdial=?", {{1, "11"}}, "p"))
      KSR.test.record(KSR.pv.get("$dbr(p=>[0,0])"))
      KSR.test.record(KSR.sqlops.sql_pquery("ca", "select extension from pbxgroups "
                      .. "where shortdial=?", {{evil}}, "p") .. "/" .. KSR.pv.get("$dbr(p=>rows)"))
      KSR.test.record(KSR.sqlops.sql_query("ca", "select extension from pbxgroups "
                      .. "where shortdial='" .. KSR.sqlops.escape(evil) .. "'", "e")
                      .. "/" .. KSR.pv.get("$dbr(e=>rows)"))
      KSR.pv.sets("$var(in)", evil)
      KSR.test.record(KSR.sqlops.sql_query("ca", "select extension from pbxgroups "
                      .. "where shortdial=" .. KSR.pv.get("$(var(in){{sql.val.str}})"), "e")
                      .. "/" .. KSR.pv.get("$dbr(e=>rows)"))
      KSR.test.record(KSR.pv.get("$(var(in){{s.escape.common}})"))
      KSR.test.record(KSR.sqlops.sql_pquery("ca", "insert into notes (who, note) values (?, ?)",
                      table.pack("it's", nil), ""))
    """)
    # the quote changed no statement: none of them found a row
    assert net.recorded == [0, "bob", "0/0", "0/0", "0/0", "10\\' or \\'1\\'=\\'1", 0]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select who, note from notes where id=2").fetchone() == (
            "it's", None)


def test_an_unknown_connection_is_minus_one(tmp_path: Path, db: Path) -> None:
    # Kamailio 5.6.3's KEMI: -1 and "invalid connection" in the log, the route goes on
    net = run(tmp_path, """
      KSR.test.record(KSR.sqlops.sql_query("nope", "select 1", "r"))
      KSR.test.record(KSR.sqlops.sql_xquery("nope", "select 1", "x"))
      KSR.test.record(KSR.sqlops.sql_pvquery("nope", "select 1", "$var(a)"))
      KSR.test.record(KSR.sqlops.sql_query_async("nope", "select 1"))
      KSR.sl.sl_send_reply(200, "OK")
    """)
    assert net.recorded == [-1, -1, -1, -1]
    assert statuses(net.take(UAC)) == [200]


def test_async_query_runs_later(tmp_path: Path, db: Path) -> None:
    net = run(tmp_path, """
      KSR.test.record(KSR.sqlops.sql_query_async("ca", "insert into notes (who) values ('zed')"))
    """)
    assert net.recorded == [1]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from notes where who='zed'").fetchone() == (1,)


def test_queries_stalled_by_a_lock_wait_together_without_stalling_the_server(
        tmp_path: Path, db: Path) -> None:
    """50 requests insert while another connection holds the database locked: all 50
    wait at once (none finishes before the lock goes), other greenlets keep running,
    and every insert lands once the lock is released."""
    net = LuaNet("""
      function ksr_request_route()
        local r = KSR.sqlops.sql_query("ca", "insert into notes (who) values ('"
                                       .. KSR.pv.get("$ci") .. "')", "")
        KSR.test.record(r)
      end""", tmp_path, modules=MODULES)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(20)])
    for n in range(50):
        net.deliver(request("MESSAGE").replace(b"Call-ID: ", f"Call-ID: c{n}-".encode()),
                    wait=0)
    gevent.sleep(0.3)
    assert net.recorded == []          # all still waiting for the lock...
    ticker.join(timeout=2)
    assert len(ticks) == 20            # ...while other greenlets ran
    locker.execute("COMMIT")
    locker.close()
    deadline = gevent.Timeout(10)
    with deadline:
        while len(net.recorded) < 50:
            gevent.sleep(0.05)
    assert net.recorded == [0] * 50
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from notes where who like 'c%'").fetchone() == (50,)


def test_sqlcon_forms(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    script = tmp_path / "cfg.lua"
    script.write_text(f'geosip = {{ modules = {{ sqlops = {{ sqlcon = {{ ca = "{url}" }} }} }} }}\n'
                      "function ksr_request_route() end\n")
    params = read_config(str(script)).modules["sqlops"]  # type: ignore[index]
    assert params["sqlcon"] == {"ca": url}
    try:
        sqlops.init(params)
        sqlops.init({"sqlcon": f"ca=>{url}"})
        sqlops.init({"sqlcon": [f"ca=>{url}", "pg=>postgres://u:pw@127.0.0.1:1/db"]})
        for bad in ("ca", ["ca=>x://y"], [f"ca=>{url}", f"ca=>{url}"], "ca=>sqlite:///:memory:"):
            with pytest.raises(ValueError):
                sqlops.init({"sqlcon": bad})
    finally:
        sqlops.destroy()
