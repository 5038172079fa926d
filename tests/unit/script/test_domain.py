"""KSR.domain (Kamailio's domain module) through a real Lua script routing the real
Core in-process, over a real SQLite database with the domain and domain_attrs tables:
local or not by From host, Request-URI host, or a given name (without case);
lookup_domain's did and attribute AVPs (with a prefix); domain.reload picks up rows
added later and domain.dump lists the cache; a database that fails keeps the old
cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from geosip.db import models
from geosip.db.connect import open_database
from geosip.modules.domain import cache
from geosip.modules.domain import mod as domain_mod
from geosip.modules.domain import rpc
from tests.support.luanet import UAC, LuaNet, request, statuses

SCRIPT = """
function ksr_request_route()
  KSR.test.record(KSR.domain.is_from_local())
  KSR.test.record(KSR.domain.is_uri_host_local())
  KSR.test.record(KSR.domain.is_domain_local(KSR.pv.get("$hdr(X-Domain)") or ""))
  KSR.test.record(KSR.domain.lookup_domain(KSR.pv.get("$rd")))
  KSR.test.record(KSR.pv.get("$avp(did)") or "none")
  KSR.test.record(KSR.pv.get("$avp(max_users)") or "none")
  KSR.test.record(KSR.domain.lookup_domain_prefix(KSR.pv.get("$fd"), "from_"))
  KSR.test.record(KSR.pv.get("$avp(from_did)") or "none")
  KSR.test.record(KSR.pv.get("$avp(from_tier)") or "none")
  KSR.sl.sl_send_reply(200, "Checked")
end
"""


@pytest.fixture
def db(geosip_db: Any) -> Iterator[Any]:
    database = geosip_db
    with database.connection_context():
        models.Domain.create(domain="a.example", did="tenant-a")
        models.Domain.create(domain="B.example")        # did NULL: the domain itself
        models.DomainAttrs.create(did="tenant-a", name="max_users", type=0, value="10")
        models.DomainAttrs.create(did="b.example", name="tier", type=2, value="gold")
    yield database
    domain_mod.destroy()


def started(tmp_path: Path) -> LuaNet:
    net = LuaNet(SCRIPT, tmp_path, modules=("sl", "domain"))
    domain_mod.start(net.core)
    gevent.sleep(0.05)   # the loader greenlet
    return net


def run(net: LuaNet, uri: str, from_host: str, check: str, n: int = 1) -> list[object]:
    net.recorded.clear()
    data = request("OPTIONS", n=n, uri=uri, extra=f"X-Domain: {check}\r\n")
    data = data.replace(b"From: sipp <sip:sipp@127.0.0.1:5070>",
                        f"From: sipp <sip:sipp@{from_host}>".encode())
    net.deliver(data)
    assert statuses(net.take(UAC)) == [200]
    return net.recorded


def test_local_domains_and_their_attributes(db, tmp_path: Path) -> None:
    net = started(tmp_path)
    assert run(net, "sip:alice@A.Example", "b.example", "a.EXAMPLE") == [
        1, 1, 1, 1, "tenant-a", 10, 1, "b.example", "gold"]
    assert run(net, "sip:alice@elsewhere.example", "192.0.2.1", "nope.example", 2) == [
        -1, -1, -1, -1, "none", "none", -1, "none", "none"]
    net.stop()


def test_reload_and_dump(db, tmp_path: Path) -> None:
    net = started(tmp_path)
    assert run(net, "sip:bob@c.example", "192.0.2.1", "c.example")[:3] == [-1, -1, -1]
    with db.connection_context():
        models.Domain.create(domain="c.example")
    # cached: a row added later is not seen until domain.reload
    assert run(net, "sip:bob@c.example", "192.0.2.1", "c.example", 2)[:3] == [-1, -1, -1]
    rpc.domain_reload()
    assert run(net, "sip:bob@c.example", "192.0.2.1", "c.example", 3)[:3] == [-1, 1, 1]
    assert rpc.domain_dump() == {"Domains": [
        {"Domain": "a.example", "DID": "tenant-a",
         "Attributes": [{"Name": "max_users", "Value": 10}]},
        {"Domain": "b.example", "DID": "b.example",
         "Attributes": [{"Name": "tier", "Value": "gold"}]},
        {"Domain": "c.example", "DID": "c.example", "Attributes": []}]}
    net.stop()


def test_a_failing_database_keeps_the_old_cache(db, tmp_path: Path) -> None:
    net = started(tmp_path)
    broken = tmp_path / "gone"
    broken.mkdir()
    models.database.initialize(open_database(f"sqlite:///{broken}", check=False))
    with pytest.raises(cache.DatabaseError):
        rpc.domain_reload()
    assert run(net, "sip:alice@a.example", "192.0.2.1", "a.example")[:3] == [-1, 1, 1]
    net.stop()


def test_start_with_the_database_down_retries(db, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain_mod, "RETRY", 0.02)
    broken = tmp_path / "gone"
    broken.mkdir()
    models.database.initialize(open_database(f"sqlite:///{broken}", check=False))
    net = started(tmp_path)
    assert cache.CACHE == {}
    models.database.initialize(db)
    gevent.sleep(0.1)
    assert cache.did("a.example") == "tenant-a"
    net.stop()
