"""Database URLs to peewee Databases: SQLite by default, PostgreSQL in production.

  sqlite:///PATH              PATH is everything after the three slashes: relative to the
                              current directory (sqlite:///geosip.sqlite), or absolute when
                              it starts with "/" (sqlite:////var/lib/geosip/geosip.sqlite),
                              as peewee's playhouse.db_url and SQLAlchemy spell it.
  postgres://USER:PW@HOST:PORT/DBNAME   (or postgresql://); USER, PW and PORT optional;
                              percent-escapes in USER and PW are decoded.

SQLite runs in WAL mode with a busy timeout. Under gevent a write transaction must never
yield (STACK-NOTES.md §6): do every query of a transaction before any network I/O.
PostgreSQL goes through psycopg 3 (prefer_psycopg3=True: it cooperates with gevent's patched
select with no extra package) and a connection pool; use `db.connection_context()` around
work so a greenlet returns its connection. Import after monkey-patching when under gevent.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

__all__ = ["DatabaseUnavailable", "open_database", "default_url", "mask_url", "sqlite_path",
           "DB_FILE", "EXPECTED"]

DB_FILE = "geosip.sqlite"
EXPECTED = ("expected sqlite:///PATH (relative) or sqlite:////ABSOLUTE/PATH, or "
            "postgres://USER:PASSWORD@HOST:PORT/DBNAME")
SQLITE_BUSY_TIMEOUT = 5.0  # seconds
PG_CONNECT_TIMEOUT = 5  # seconds, so an unreachable host fails fast
PG_POOL_SIZE = 20
SQLITE_POOL_SIZE = 32
PG_STALE_TIMEOUT = 300  # seconds


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened. str() names the URL (password masked)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = mask_url(url)
        self.reason = reason
        super().__init__(f"database unavailable at {self.url}: {reason}")


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def default_url(data_dir: str | os.PathLike[str]) -> str:
    """The default database: an SQLite file in the data directory (absolute URL)."""
    return f"sqlite:///{Path(data_dir).resolve() / DB_FILE}"


def sqlite_path(url: str) -> Path | None:
    """The file of an sqlite URL (absolute), or None for another scheme or :memory:."""
    if not url.startswith("sqlite:///"):
        return None
    rest = url[len("sqlite:///"):]
    if rest == ":memory:":
        return None
    return Path(rest).resolve()


def open_database(url: str, *, check: bool = True) -> pw.Database:
    """A peewee Database for `url`. Raises ValueError for a malformed URL.

    With check=True (the default), one connection is opened (and, for PostgreSQL,
    returned to the pool), so a database that cannot be used raises DatabaseUnavailable
    here, at start, and not on the first request. For SQLite that connection creates
    the file when its folder exists.

    Reconnecting: a request that finds PostgreSQL down fails at once (connection
    refused; an unreachable host after PG_CONNECT_TIMEOUT) with OperationalError, which
    the modules turn into a 500. peewee's pool checks each idle connection with a
    round trip before handing it out (is_connection_closed), so once the server is back
    the next request gets a fresh connection: nothing to restart.
    """
    scheme, _, _ = url.partition("://")
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or url == "sqlite:///":
            raise ValueError(f"bad database URL {url!r}: {EXPECTED}")
        rest = url[len("sqlite:///"):]
        target = rest if rest == ":memory:" else str(Path(rest).resolve())
        # Pooled: opening a connection costs its PRAGMAs (WAL, busy timeout), and every
        # request's greenlet would open its own (connections are greenlet-local under
        # gevent); the pool hands a finished greenlet's connection to the next one.
        db = PooledSqliteDatabase(
            target, timeout=SQLITE_BUSY_TIMEOUT, max_connections=SQLITE_POOL_SIZE,
            stale_timeout=PG_STALE_TIMEOUT,
            pragmas={"journal_mode": "wal", "busy_timeout": int(SQLITE_BUSY_TIMEOUT * 1000),
                     "foreign_keys": 1},
        )
        if check:
            # sqlite3 alone says "unable to open database file" or "file is not a
            # database" without naming it: name the URL (a directory or garbage in
            # place of the file, a missing folder, a file we may not read)
            try:
                with db.connection_context():
                    db.execute_sql("PRAGMA schema_version")
            except pw.DatabaseError as e:
                raise DatabaseUnavailable(url, _reason(e)) from None
        return db
    if scheme in ("postgres", "postgresql"):
        db = _postgres(url)
        if check:
            try:
                db.connect(reuse_if_open=True)
            except pw.OperationalError as e:
                raise DatabaseUnavailable(url, _reason(e)) from None
            db.close()
        return db
    raise ValueError(f"bad database URL {mask_url(url)!r}: {EXPECTED}")


def _postgres(url: str) -> pw.Database:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"bad database URL {mask_url(url)!r}: {e}; {EXPECTED}") from None
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname or parts.query or parts.fragment:
        raise ValueError(f"bad database URL {mask_url(url)!r}: {EXPECTED}")
    kwargs: dict[str, object] = {"connect_timeout": PG_CONNECT_TIMEOUT}
    if parts.username:
        kwargs["user"] = unquote(parts.username)
    if parts.password is not None:
        kwargs["password"] = unquote(parts.password)
    if parts.hostname:
        kwargs["host"] = parts.hostname
    if port is not None:
        kwargs["port"] = port
    return PooledPostgresqlDatabase(
        dbname, prefer_psycopg3=True, max_connections=PG_POOL_SIZE,
        stale_timeout=PG_STALE_TIMEOUT, timeout=10, **kwargs,
    )


def _reason(error: BaseException) -> str:
    # psycopg's messages run over several lines (one per address tried): keep one line.
    text = " ".join(str(error).split())
    return text or type(error).__name__


def unavailable(url: str, error: BaseException) -> DatabaseUnavailable:
    """A DatabaseUnavailable for a peewee OperationalError raised while using `url`."""
    return DatabaseUnavailable(url, _reason(error))
