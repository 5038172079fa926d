"""usrloc's database modes (Kamailio's usrloc db_mode 1-3) under KSR.registrar, with a
real Lua script routing the real Core in-process (tests/support/luanet.py) and a real
SQLite database with Kamailio's location table: rows as Kamailio writes them, bindings
surviving a restart (the module destroyed and started again), write-back on the timer,
db-only seeing rows another server wrote, the usrloc:contact-expired event with
$ulc(exp=>...), and 500 when the database cannot be used.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from geosip.db import models
from geosip.db.connect import open_database
from geosip.modules.registrar import mod as registrar_mod
from geosip.modules.usrloc import api as ul
from geosip.modules.usrloc import mod as usrloc_mod
from geosip.modules.usrloc import store
from geosip.sip import Request, Response
from tests.support.luanet import UAC, UAS, UAS2, LuaNet, statuses

from .test_registrar import MODULES, SCRIPT, invite, register

EVENT_SCRIPT = SCRIPT + """
function ksr_usrloc_event(evname)
  KSR.test.record(evname)
  KSR.test.record(KSR.pv.get("$ulc(exp=>aor)"))
  KSR.test.record(KSR.pv.get("$ulc(exp=>addr)"))
  KSR.test.record(KSR.pv.get("$ulc(exp=>domain)"))
  KSR.test.record(KSR.pv.get("$ulc(exp=>callid)"))
end
"""


@pytest.fixture
def db(geosip_db: Any) -> Iterator[Any]:
    yield geosip_db
    usrloc_mod.destroy()
    usrloc_mod.init()
    registrar_mod.init()


def server(tmp_path: Path, usrloc: dict[str, Any], script: str = SCRIPT) -> LuaNet:
    """A fresh server (as after a restart): usrloc initialised and started."""
    usrloc_mod.destroy()
    usrloc_mod.init(usrloc)
    registrar_mod.init()
    net = LuaNet(script, tmp_path, modules=MODULES)
    usrloc_mod.start(net.core)
    return net


def reply(net: LuaNet, data: bytes) -> Response:
    net.deliver(data, UAS)
    [answer] = net.take(UAS)
    assert isinstance(answer, Response)
    return answer


def rows() -> list[models.Location]:
    with models.database.connection_context():
        return list(models.Location.select().order_by(models.Location.id))


_calls = itertools.count(100)


def reaches(net: LuaNet, user: str = "alice") -> str | None:
    """Where an INVITE for `user` (a new transaction each time) is forwarded to."""
    net.deliver(invite(user, n=next(_calls)))
    forwarded = [m for m in [*net.take(UAS), *net.take(UAS2)] if isinstance(m, Request)]
    net.take(UAC)
    return forwarded[0].uri_text if forwarded else None


def test_write_through_writes_kamailios_row_and_survives_a_restart(db, tmp_path: Path) -> None:
    net = server(tmp_path, {"db_mode": 1})
    before = time.time()
    answer = reply(net, register(expires=600, extra="User-Agent: phone/1\r\n"
                                 "Allow: INVITE, ACK, BYE\r\n"))
    assert answer.status == 200
    [row] = rows()   # written at once, not on a timer
    assert (row.username, row.domain, row.contact, row.callid, row.cseq, row.user_agent,
            row.socket, row.q, row.methods, row.reg_id, row.instance) == (
        "alice", None, "sip:alice@127.0.0.1:5080", "reg-1", 1, "phone/1",
        "udp:127.0.0.1:5060", -1.0, 1 | 4 | 8, 0, None)
    assert row.ruid.startswith("uloc-")
    expires = row.expires if isinstance(row.expires, dt.datetime) else \
        dt.datetime.fromisoformat(row.expires)
    assert abs(expires.timestamp() - (before + 600)) < 2
    net.stop()

    # A restart: a new module instance loads the table at start.
    again = server(tmp_path, {"db_mode": 1})
    assert ul.location_contacts() == 1
    assert reaches(again) == "sip:alice@127.0.0.1:5080"
    # An update keeps the row (same ruid), a removal deletes it.
    assert reply(again, register(expires=300, cseq=2)).status == 200
    [updated] = rows()
    assert (updated.ruid, updated.cseq) == (row.ruid, 2)
    assert reply(again, register(expires=0, cseq=3)).status == 200
    assert rows() == [] and reaches(again) is None
    again.stop()


def test_memory_mode_writes_nothing(db, tmp_path: Path) -> None:
    net = server(tmp_path, {"db_mode": 0})
    assert reply(net, register()).status == 200
    assert rows() == []
    net.stop()


def test_write_back_writes_on_the_timer_and_at_shutdown(db, tmp_path: Path) -> None:
    net = server(tmp_path, {"db_mode": 2, "timer_interval": 0.05})
    assert reply(net, register(expires=600)).status == 200
    assert len(rows()) in (0, 1)   # the timer may have run already
    gevent.sleep(0.15)
    [row] = rows()
    assert row.contact == "sip:alice@127.0.0.1:5080"
    # a removal goes on the next timer run too
    assert reply(net, register(expires=0, cseq=2)).status == 200
    gevent.sleep(0.15)
    assert rows() == []
    # changes not flushed yet are written when the module stops
    usrloc_mod.destroy()
    usrloc_mod.init({"db_mode": 2, "timer_interval": 3600})
    net2 = LuaNet(SCRIPT, tmp_path, modules=MODULES)
    assert reply(net2, register(expires=600, cseq=3)).status == 200
    assert rows() == []
    usrloc_mod.destroy()
    assert [r.cseq for r in rows()] == [3]
    net.stop()
    net2.stop()


def test_db_only_reads_what_another_server_wrote(db, tmp_path: Path) -> None:
    net = server(tmp_path, {"db_mode": 3})
    assert reply(net, register(expires=600)).status == 200
    assert [r.contact for r in rows()] == ["sip:alice@127.0.0.1:5080"]
    assert ul.table("location").records == {}   # no memory copy
    # another server on the same database registers bob: seen here at once
    other = ul.Contact("bob", "sip:bob@127.0.0.1:5090", time.time() + 600, ruid="uloc-x-1",
                       callid="elsewhere", cseq=1, last_modified=time.time())
    store.insert("location", [other], False)
    assert reaches(net, "bob") == "sip:bob@127.0.0.1:5090"
    assert reaches(net) == "sip:alice@127.0.0.1:5080"
    assert (ul.registered_users(), ul.location_contacts()) == (2, 2)
    # and a removal there is seen here
    store.delete("location", ["uloc-x-1"])
    assert reaches(net, "bob") is None
    net.stop()


@pytest.mark.parametrize("db_mode", [0, 1, 3])
def test_the_expired_event_runs_with_ulc(db, tmp_path: Path, db_mode: int) -> None:
    net = server(tmp_path, {"db_mode": db_mode, "event_callback": "ksr_usrloc_event",
                            "timer_interval": 3600}, EVENT_SCRIPT)
    location = ul.table("location")
    now = time.time()
    location.save(ul.Contact("carol", "sip:carol@192.0.2.1", now - 1, callid="c-1",
                             last_modified=now - 100))
    location.save(ul.Contact("dave", "sip:dave@192.0.2.2", now + 600, last_modified=now))
    gone = gevent.spawn(ul.sweep).get(timeout=5)
    assert [c.aor for c in gone] == ["carol"]
    assert net.recorded == ["usrloc:contact-expired", "carol", "sip:carol@192.0.2.1",
                            "location", "c-1"]
    if db_mode:
        assert [r.username for r in rows()] == ["dave"]
    net.stop()


def test_a_database_that_fails_answers_500(db, tmp_path: Path) -> None:
    net = server(tmp_path, {"db_mode": 3})
    assert reply(net, register()).status == 200
    broken = tmp_path / "gone"
    broken.mkdir()   # a directory where the database file should be: cannot open
    models.database.initialize(open_database(f"sqlite:///{broken}", check=False))
    assert reply(net, register(cseq=2)).status == 500
    net.deliver(invite())
    assert statuses(net.take(UAC)) == [500]
    # back: served again, nothing lost
    models.database.initialize(db)
    assert reaches(net) == "sip:alice@127.0.0.1:5080"
    net.stop()


def test_write_through_keeps_memory_as_the_database_when_a_write_fails(
        db, tmp_path: Path) -> None:
    net = server(tmp_path, {"db_mode": 1})
    broken = tmp_path / "gone"
    broken.mkdir()
    models.database.initialize(open_database(f"sqlite:///{broken}", check=False))
    assert reply(net, register()).status == 500
    models.database.initialize(db)
    assert reaches(net) is None and rows() == []
    net.stop()


def test_use_domain_splits_the_aor_into_username_and_domain(db, tmp_path: Path) -> None:
    net = server(tmp_path, {"db_mode": 1, "use_domain": 1})
    assert reply(net, register()).status == 200
    [row] = rows()
    assert (row.username, row.domain) == ("alice", "127.0.0.1")
    net.stop()
    again = server(tmp_path, {"db_mode": 1, "use_domain": 1})
    assert ul.table("location").aors() == ["alice@127.0.0.1"]
    again.stop()


def test_methods_and_path_round_trip() -> None:
    c = ul.Contact("a", "sip:a@h", 1000.0, path=("sip:p1.example;lr", "sip:p2.example;lr"),
                   methods=frozenset({"INVITE", "MESSAGE", "FOO"}), ruid="r")
    row = store.to_row(c, False)
    assert row["path"] == "<sip:p1.example;lr>,<sip:p2.example;lr>"
    assert row["methods"] == 1 | 256 | store.METHOD_OTHER
    back = store.from_row(models.Location(**row), False)
    assert back.path == c.path and back.methods == frozenset({"INVITE", "MESSAGE"})
    assert store.method_set(None) is None and store.method_set(-1) is None
