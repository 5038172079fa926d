"""`geosipctl db|subscriber|domain` as a user types them, on SQLite and on PostgreSQL.

Each command runs as the installed console script in a subprocess; after each one the test
reads the database itself, since that is what a user (or Kamailio) would look at.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from geosip.db import schema
from geosip.db.connect import open_database
from geosip.db.models import TABLE_VERSIONS, Domain, Subscriber, Version
from geosip.sip.digest import ha1

from .conftest import BIN

GEOSIPCTL = str(BIN / "geosipctl")
_counter = itertools.count()


@dataclass
class Ctl:
    cwd: Path
    url: str | None  # None: the default SQLite file in ./geosip-data

    def __call__(self, *args: str, db: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["--db", self.url] if (db and self.url) else []
        return subprocess.run([GEOSIPCTL, *prefix, *args], cwd=self.cwd, capture_output=True,
                              text=True, timeout=60)

    @property
    def db_url(self) -> str:
        return self.url or f"sqlite:///{self.cwd / 'geosip-data' / 'geosip.sqlite'}"

    def rows(self, model: type) -> list[tuple]:  # type: ignore[type-arg]
        db = open_database(self.db_url)
        schema.bind(db)
        try:
            with db.connection_context():
                return [tuple(r) for r in model.select().order_by(model.id).tuples()]
        finally:
            if hasattr(db, "close_all"):
                db.close_all()


def _fresh_pg_database(postgres_url: str) -> str:
    import psycopg

    name = f"ctl_{next(_counter)}"
    with psycopg.connect(postgres_url.replace("postgres://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))


@pytest.fixture(params=["sqlite", "postgres"])
def ctl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ctl]:
    if request.param == "sqlite":
        yield Ctl(tmp_path, None)
    else:
        yield Ctl(tmp_path, _fresh_pg_database(request.getfixturevalue("postgres_url")))


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert (done.returncode, done.stderr) == (0, ""), done
    return done.stdout


def fails(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, done
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("geosipctl: "), done.stderr
    assert text in lines[0], done.stderr


def test_db_init_migrate_show(ctl: Ctl) -> None:
    fails(ctl("db", "show"), 1, "run `geosipctl db init`")
    out = ok(ctl("db", "init"))
    assert f"created {len(schema.TABLES)} tables" in out
    assert {name: v for _, name, v in ctl.rows(Version)} == TABLE_VERSIONS
    if ctl.url:  # PostgreSQL: the column types of Kamailio's postgres schema
        import psycopg

        with psycopg.connect(ctl.url.replace("postgres://", "postgresql://")) as conn:
            types = dict(conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM "
                "information_schema.columns WHERE table_schema = 'public'").fetchall())
        assert types["location.q"] == "real"
        assert types["location.expires"] == "timestamp without time zone"
        assert types["location.contact"] == "character varying"
        assert types["address.port"] == "smallint"
        assert types["subscriber.id"] == "integer"
    fails(ctl("db", "init"), 1, "initialised already")
    out = ok(ctl("db", "migrate"))
    assert f"0 created, {len(schema.TABLES)} existing" in out
    assert "exists   location (version 9)" in out
    out = ok(ctl("db", "show"))
    assert any(line.split() == ["subscriber", "7", "0"] for line in out.splitlines()), out
    version_row = ["version", "1", str(len(schema.TABLES))]  # one row per table
    assert any(line.split() == version_row for line in out.splitlines()), out


def test_migrate_creates_what_is_missing(ctl: Ctl) -> None:
    ok(ctl("db", "init"))
    db = open_database(ctl.db_url)
    schema.bind(db)
    with db.connection_context():
        db.drop_tables([Domain])
    if hasattr(db, "close_all"):
        db.close_all()
    out = ok(ctl("db", "migrate"))
    assert "created  domain" in out and f"1 created, {len(schema.TABLES) - 1} existing" in out
    ok(ctl("domain", "add", "example.com"))
    assert [r[1] for r in ctl.rows(Domain)] == ["example.com"]


def test_subscribers(ctl: Ctl) -> None:
    fails(ctl("subscriber", "add", "alice@example.com", "secret"), 1,
          "run `geosipctl db init`")
    ok(ctl("db", "init"))
    assert ok(ctl("subscriber", "add", "alice@example.com", "secret")) == \
        "added subscriber alice@example.com\n"
    ok(ctl("subscriber", "add", "bob@example.org", "pw"))
    alice = ("alice", "example.com", "secret", ha1("alice", "example.com", "secret"),
             ha1("alice@example.com", "example.com", "secret"))
    bob = ("bob", "example.org", "pw", ha1("bob", "example.org", "pw"),
           ha1("bob@example.org", "example.org", "pw"))
    assert [r[1:] for r in ctl.rows(Subscriber)] == [alice, bob]

    fails(ctl("subscriber", "add", "alice@example.com", "other"), 1,
          "subscriber alice@example.com exists already")
    fails(ctl("subscriber", "add", "alice", "secret"), 2, "malformed USER@DOMAIN 'alice'")
    fails(ctl("subscriber", "add", "@example.com", "secret"), 2, "malformed USER@DOMAIN")
    assert len(ctl.rows(Subscriber)) == 2

    assert ok(ctl("subscriber", "list")) == "alice@example.com\nbob@example.org\n"
    assert ok(ctl("subscriber", "list", "example.org")) == "bob@example.org\n"

    ok(ctl("subscriber", "passwd", "alice@example.com", "new"))
    row = ctl.rows(Subscriber)[0]
    assert row[3:] == ("new", ha1("alice", "example.com", "new"),
                       ha1("alice@example.com", "example.com", "new"))
    fails(ctl("subscriber", "passwd", "carol@example.com", "x"), 1,
          "no subscriber carol@example.com")

    ok(ctl("subscriber", "rm", "alice@example.com"))
    assert [r[1:] for r in ctl.rows(Subscriber)] == [bob]
    fails(ctl("subscriber", "rm", "alice@example.com"), 1, "no subscriber alice@example.com")


def test_domains(ctl: Ctl) -> None:
    ok(ctl("db", "init"))
    ok(ctl("domain", "add", "example.com"))
    ok(ctl("domain", "add", "a.example"))
    assert [r[1:3] for r in ctl.rows(Domain)] == [("example.com", None), ("a.example", None)]
    fails(ctl("domain", "add", "example.com"), 1, "domain example.com exists already")
    assert ok(ctl("domain", "list")) == "a.example\nexample.com\n"
    ok(ctl("domain", "rm", "example.com"))
    assert [r[1] for r in ctl.rows(Domain)] == ["a.example"]
    fails(ctl("domain", "rm", "example.com"), 1, "no domain example.com")


def test_default_database_is_in_data_dir(tmp_path: Path) -> None:
    ctl = Ctl(tmp_path, None)
    ok(ctl("--data-dir", "var/geo", "db", "init", db=False))
    assert (tmp_path / "var" / "geo" / "geosip.sqlite").is_file()
    ok(ctl("--data-dir", "var/geo", "subscriber", "add", "a@b.example", "pw", db=False))
    fails(ctl("subscriber", "list", db=False), 1,
          f"no database at sqlite:///{tmp_path / 'geosip-data' / 'geosip.sqlite'}: "
          "run `geosipctl db init`")


def test_postgres_down_is_one_clear_line(tmp_path: Path,
                                         free_port: Callable[..., int]) -> None:
    url = f"postgres://geosip:s3cret@127.0.0.1:{free_port()}/geosip"
    done = subprocess.run([GEOSIPCTL, "--db", url, "subscriber", "list"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    fails(done, 1, "database unavailable at postgres://geosip:***@127.0.0.1:")
    assert "s3cret" not in done.stderr
    assert "Connection refused" in done.stderr


def test_bad_url(tmp_path: Path) -> None:
    done = subprocess.run([GEOSIPCTL, "--db", "mysql://x/y", "db", "show"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    fails(done, 2, "bad database URL 'mysql://x/y': expected sqlite:///")


@pytest.mark.parametrize("args", [["core.uptime"], ["-s", "/run/geosip.sock", "ul.dump"],
                                  ["--db", "sqlite:///x", "ul.dump"]])
def test_rpc_commands_go_to_the_server_not_the_database(tmp_path: Path,
                                                        args: list[str]) -> None:
    done = subprocess.run([GEOSIPCTL, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("geosipctl: geosip is not running (no control socket at ")