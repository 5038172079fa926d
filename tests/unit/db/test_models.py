"""geosip.db models and schema on SQLite: Kamailio 5.6's tables, columns and versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import pytest

from geosip.db import schema
from geosip.db.connect import DatabaseUnavailable, default_url, mask_url, open_database
from geosip.db.models import (
    MODELS, TABLE_VERSIONS, Address, Aliases, Domain, Location, Subscriber, Version,
)
from geosip.sip.digest import ha1

# Kamailio 5.6.3's columns, as its dbtext schema (/usr/share/kamailio/dbtext/kamailio) lists them.
KAMAILIO_COLUMNS = {
    "version": "id table_name table_version",
    "subscriber": "id username domain password ha1 ha1b",
    "location": "id ruid username domain contact received path expires q callid cseq "
                "last_modified flags cflags user_agent socket methods instance reg_id "
                "server_id connection_id keepalive partition",
    "location_attrs": "id ruid username domain aname atype avalue last_modified",
    "aliases": "id ruid username domain contact received path expires q callid cseq "
               "last_modified flags cflags user_agent socket methods instance reg_id "
               "server_id connection_id keepalive partition",
    "domain": "id domain did last_modified",
    "domain_attrs": "id did name type value last_modified",
    "address": "id grp ip_addr mask port tag",
    "dispatcher": "id setid destination flags priority attrs description",
    "dialog": "id hash_entry hash_id callid from_uri from_tag to_uri to_tag caller_cseq "
              "callee_cseq caller_route_set callee_route_set caller_contact callee_contact "
              "caller_sock callee_sock state start_time timeout sflags iflags toroute_name "
              "req_uri xdata",
    "dialog_vars": "id hash_entry hash_id dialog_key dialog_value",
    "acc": "id method from_tag to_tag callid sip_code sip_reason time",
    "missed_calls": "id method from_tag to_tag callid sip_code sip_reason time",
    "acc_cdrs": "id start_time end_time duration",
    "silo": "id src_addr dst_addr username domain inc_time exp_time snd_time ctype body "
            "extra_hdrs callid status",
    "htable": "id key_name key_type value_type key_value expires",
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[pw.Database]:
    database = open_database(f"sqlite:///{tmp_path / 'geosip.sqlite'}")
    schema.init(database)
    with database.connection_context():
        yield database


def test_tables_and_columns_are_kamailios(db: pw.Database) -> None:
    assert sorted(db.get_tables()) == sorted(KAMAILIO_COLUMNS)
    for table, columns in KAMAILIO_COLUMNS.items():
        assert [c.name for c in db.get_columns(table)] == columns.split(), table
    assert {m._meta.table_name for m in MODELS} == set(KAMAILIO_COLUMNS)


def test_versions(db: pw.Database) -> None:
    assert TABLE_VERSIONS == {"version": 1, "subscriber": 7, "location": 9,
                              "location_attrs": 1, "aliases": 8, "domain": 2,
                              "domain_attrs": 1, "address": 6, "dispatcher": 4,
                              "dialog": 7, "dialog_vars": 1, "acc": 5, "missed_calls": 4,
                              "acc_cdrs": 2, "silo": 8, "htable": 2}
    assert {v.table_name: v.table_version for v in Version.select()} == TABLE_VERSIONS


def test_unique_keys(db: pw.Database) -> None:
    Subscriber.create(username="alice", domain="example.com")
    Subscriber.create(username="alice", domain="example.org")
    with pytest.raises(pw.IntegrityError), db.atomic():
        Subscriber.create(username="alice", domain="example.com")
    Location.create(ruid="r1", username="alice", contact="sip:alice@192.0.2.1")
    with pytest.raises(pw.IntegrityError), db.atomic():
        Location.create(ruid="r1", username="alice", contact="sip:alice@192.0.2.2")
    Domain.create(domain="example.com")
    with pytest.raises(pw.IntegrityError), db.atomic():
        Domain.create(domain="example.com")


def test_sql_defaults_as_kamailio(db: pw.Database) -> None:
    # Kamailio's modules insert naming only some columns: the DDL carries the defaults.
    db.execute_sql("INSERT INTO location (ruid, username, contact) VALUES ('r', 'u', 'c')")
    row = Location.get(Location.ruid == "r")
    assert (row.expires, row.last_modified, row.q, row.callid, row.cseq, row.domain) == (
        dt.datetime(2030, 5, 28, 21, 32, 15), dt.datetime(2000, 1, 1, 0, 0, 1), 1.0,
        "Default-Call-ID", 1, None)
    db.execute_sql("INSERT INTO address (ip_addr) VALUES ('192.0.2.0')")
    assert Address.select(Address.grp, Address.mask, Address.port, Address.tag).tuples()[:] \
        == [(1, 32, 0, None)]
    assert Aliases.contact.max_length == 255 and Location.contact.max_length == 512


def test_sqlite_is_wal_with_busy_timeout(db: pw.Database) -> None:
    assert db.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_init_refuses_an_initialised_database(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'g.sqlite'}")
    assert schema.init(database) == list(KAMAILIO_COLUMNS)
    with pytest.raises(schema.AlreadyInitialised):
        schema.init(database)


def test_migrate_and_show(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'g.sqlite'}")
    schema.init(database)
    with database.connection_context():
        database.drop_tables([Domain])
        Version.update(table_version=8).where(Version.table_name == "location").execute()
        Subscriber.create(username="a", domain="b")
    report = schema.migrate(database)
    assert report.created == ["domain"]
    assert ("location", 8) in report.existing
    assert report.outdated == [("location", 8, 9)]
    infos = {i.table: i for i in schema.show(database)}
    assert (infos["subscriber"].version, infos["subscriber"].rows) == (7, 1)
    assert (infos["location"].version, infos["location"].expected_version) == (8, 9)
    assert infos["domain"].exists and infos["domain"].rows == 0


def test_show_on_an_empty_database(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'g.sqlite'}")
    assert all(not i.exists and i.rows is None for i in schema.show(database))


def test_kamctl_hashes_match_digest_ha1() -> None:
    # kamctl: ha1 = MD5(user:domain:password), ha1b = MD5(user@domain:domain:password).
    from geosip.cli.ctl_db import _hashes

    hashes = _hashes("alice", "example.com", "secret")
    assert hashes["ha1"] == ha1("alice", "example.com", "secret")
    assert hashes["ha1b"] == ha1("alice@example.com", "example.com", "secret")
    import hashlib
    assert hashes["ha1"] == hashlib.md5(b"alice:example.com:secret").hexdigest()
    assert hashes["ha1b"] == hashlib.md5(b"alice@example.com:example.com:secret").hexdigest()


def test_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_url("data") == f"sqlite:///{tmp_path / 'data' / 'geosip.sqlite'}"
    assert open_database("sqlite:///rel.sqlite").database == str(tmp_path / "rel.sqlite")
    assert open_database(f"sqlite:///{tmp_path}/abs.sqlite").database == \
        str(tmp_path / "abs.sqlite")
    for bad in ("mysql://u@h/d", "sqlite://", "sqlite:///", "postgres://h:port/d",
                "postgres://u@h/", "geosip.sqlite"):
        with pytest.raises(ValueError, match="expected sqlite:///"):
            open_database(bad)
    assert mask_url("postgres://u:p%40ss@h:5432/d") == "postgres://u:***@h:5432/d"
    assert mask_url("postgres://u@h/d") == "postgres://u@h/d"


def test_postgres_url_is_pooled_psycopg3() -> None:
    from playhouse.pool import PooledPostgresqlDatabase

    database = open_database("postgresql://u:p%40ss@127.0.0.1:5999/geo", check=False)
    assert isinstance(database, PooledPostgresqlDatabase)
    assert database.database == "geo"
    assert database.connect_params["password"] == "p@ss"
    assert database.connect_params["port"] == 5999
    assert type(database._adapter).__name__.lower().find("psycopg3") >= 0


def test_postgres_down_raises_database_unavailable(free_port) -> None:  # type: ignore[no-untyped-def]
    url = f"postgres://geosip:s3cret@127.0.0.1:{free_port()}/geosip"
    with pytest.raises(DatabaseUnavailable) as info:
        open_database(url)
    assert "s3cret" not in str(info.value)
    assert str(info.value).startswith("database unavailable at postgres://geosip:***@127.0.0.1:")
