"""sqlops' named connections: Kamailio's `sqlcon` "name=>db_url", SQLite or PostgreSQL
URLs as geosip.db.connect.open_database takes them.

Contract: `parse_sqlcon(value)` reads the modparam (one "name=>url" string, a list of
them, or a table { name = url }) into {name: url}; ValueError names a malformed one.
`Connection.query(sql, params)` runs one statement in autocommit mode and returns a
Result; it raises QueryError (a ValueError, so the script sees -1 or an error at the
call) when the database refuses it. It may wait: call it outside Lua (the KSR
functions are blocking=True, geosip/script/engine.py).
- PostgreSQL: a psycopg 3 pool (open_database), which waits cooperatively under gevent.
- SQLite: each query runs in a thread of a small pool with a connection of its own:
  sqlite3 waits on a lock (busy_timeout) in C, which would stall every greenlet if it
  ran in the hub's thread (STACK-NOTES.md §6), and it releases the GIL while waiting.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import peewee as pw

from geosip.db.connect import SQLITE_BUSY_TIMEOUT, mask_url, open_database, sqlite_path

log = logging.getLogger("geosip.sqlops")

Cell = str | int | None
GEOSIP = "geosip"  # the URL that names geosip's own database


class QueryError(ValueError):
    """The database refused the query or could not be reached."""


@dataclass(frozen=True, slots=True)
class Result:
    """What a query returned: column names, rows of cells (str, int or None) and the
    rows it changed (Kamailio's $sqlrows)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    affected: int = 0


def parse_sqlcon(value: Any) -> dict[str, str]:
    """{name: url} from "name=>url", a list of such strings, or { name = url }."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        items = [value] if isinstance(value, str) else list(value)
        pairs = []
        for item in items:
            name, sep, url = str(item).partition("=>")
            if not sep:
                raise ValueError(f"sqlops.sqlcon {item!r}: expected \"name=>db_url\"")
            pairs.append((name.strip(), url.strip()))
    out: dict[str, str] = {}
    for name, url in pairs:
        if not name or not name.replace("_", "a").isalnum():
            raise ValueError(f"sqlops.sqlcon: bad connection name {name!r}")
        if not isinstance(url, str) or not url:
            raise ValueError(f"sqlops.sqlcon {name}: the database URL is missing")
        if name in out:
            raise ValueError(f"sqlops.sqlcon names {name} twice")
        out[name] = url
    return out


def cell(value: Any) -> Cell:
    """A database value as the script sees it: integers stay integers, NULL is None,
    a timestamp its Unix time (Kamailio's DB1_DATETIME), anything else text."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)  # float, Decimal, date, UUID...


def _result(cursor: Any) -> Result:
    if cursor.description is None:  # INSERT, UPDATE...: no result set
        return Result((), (), max(cursor.rowcount, 0))
    columns = tuple(str(d[0]) for d in cursor.description)
    rows = tuple(tuple(cell(v) for v in row) for row in cursor.fetchall())
    return Result(columns, rows, len(rows))


class Connection(ABC):
    """One named database: SqliteConnection or PostgresConnection."""

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run `sql` with `params` bound; the rows (or the count a write changed)."""

    def close(self) -> None:
        """Release pooled connections (module destroy)."""


class SqliteConnection(Connection):
    def __init__(self, name: str, url: str, pool: Any) -> None:
        super().__init__(name, url)
        path = sqlite_path(url)
        if path is None:
            raise ValueError(f"sqlops.sqlcon {name}: {url!r} is not an SQLite file URL "
                             "(an in-memory database is not shared between queries)")
        self.path = str(path)
        self.pool = pool  # a gevent ThreadPool: the query runs in one of its threads

    def query(self, sql: str, params: Sequence[Any] = ()) -> Result:
        outcome = self.pool.apply(self._run, (sql, tuple(params)))
        if isinstance(outcome, Exception):
            raise QueryError(f"{self.name}: {outcome}")
        return outcome

    def _run(self, sql: str, params: tuple[Any, ...]) -> Result | Exception:
        # In a worker thread: nothing gevent here. isolation_level=None is autocommit.
        # The error comes back as a value: raised here, gevent's pool prints it.
        try:
            conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            return exc
        try:
            return _result(conn.execute(sql, params))
        except (sqlite3.Error, OverflowError) as exc:  # OverflowError: an int too big
            return exc
        finally:
            conn.close()


class PostgresConnection(Connection):
    def __init__(self, name: str, url: str) -> None:
        super().__init__(name, url)
        self.db = open_database(url, check=False)  # a pool; connects on first use

    def query(self, sql: str, params: Sequence[Any] = ()) -> Result:
        try:
            with self.db.connection_context():
                with self.db.connection().cursor() as cursor:
                    # psycopg reads %-placeholders only when given parameters, so a
                    # query without any keeps its % (LIKE 'a%') as written.
                    cursor.execute(format_style(sql) if params else sql,
                                   tuple(params) if params else None)
                    return _result(cursor)
        except Exception as exc:  # psycopg and peewee errors alike: the query failed
            if isinstance(exc, QueryError):
                raise
            raise QueryError(f"{self.name} ({mask_url(self.url)}): {exc}") from None

    def close(self) -> None:
        if self.url == GEOSIP:
            return  # geosip's own pool: geosip run closes it
        try:
            self.db.close_all()
        except Exception:  # already closed, or never opened
            log.debug("sqlops: closing %s", self.name, exc_info=True)


def format_style(sql: str) -> str:
    """SQLite's ? placeholders as psycopg's %s (a literal % doubled); ? and % inside
    quoted strings or identifiers are text."""
    out, quote = [], ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
            out.append("%%" if char == "%" else char)
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append("%%" if char == "%" else char)
    return "".join(out)


class ServerDatabase(Connection):
    """URL "geosip": the database `geosip run` opened (--db, db_url), found at the
    first query (modules are initialised before the database opens)."""

    def __init__(self, name: str, pool: Any) -> None:
        super().__init__(name, GEOSIP)
        self.pool = pool
        self.target: Connection | None = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> Result:
        if self.target is None:
            from geosip.db import models

            database = models.database.obj
            if database is None:
                raise QueryError(f"{self.name}: geosip has no database open")
            if isinstance(database, pw.SqliteDatabase):
                self.target = SqliteConnection(self.name, f"sqlite:///{database.database}",
                                               self.pool)
            else:
                target = PostgresConnection.__new__(PostgresConnection)
                Connection.__init__(target, self.name, self.url)
                target.db = database
                self.target = target
        return self.target.query(sql, params)


def open_connection(name: str, url: str, pool: Any) -> Connection:
    """A Connection for `url`; ValueError for a URL open_database refuses."""
    if url == GEOSIP:
        return ServerDatabase(name, pool)
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        return SqliteConnection(name, url, pool)
    if scheme in ("postgres", "postgresql"):
        return PostgresConnection(name, url)
    open_database(url, check=False)  # raises ValueError naming what is expected
    raise ValueError(f"sqlops.sqlcon {name}: unsupported database URL {mask_url(url)!r}")


__all__ = ["Cell", "Connection", "QueryError", "Result", "cell", "format_style",
           "open_connection", "parse_sqlcon"]
