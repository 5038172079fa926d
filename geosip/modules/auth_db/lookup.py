"""The HA1 of a user from a subscriber-shaped table (Kamailio auth_db's get_ha1).

The row is found by username (the part of the credentials' username before '@'),
and with use_domain 1 also by domain (the part after '@', else the realm). Then:
calculate_ha1 1 hashes the `password` column as H(username:realm:password) with the
whole credentials username; calculate_ha1 0 takes `ha1`, or `ha1b` when the username
carries "@domain" (kamctl stores ha1b = H(user@domain:domain:password)).
Raises DatabaseError (a ValueError: the script sees an error at the call and the
route answers 500) when the database cannot be queried.
"""

from __future__ import annotations

import functools
import logging

import peewee as pw

from geosip.db import models
from geosip.sip import digest

from .config import SETTINGS

log = logging.getLogger("geosip.auth_db")


class DatabaseError(ValueError):
    """The subscriber table could not be read."""


def table_model(table: str) -> type[models.Subscriber]:
    """Subscriber bound to `table`; ValueError for a name that is not an identifier."""
    return models.on_table(models.Subscriber, table)  # type: ignore[return-value]


@functools.lru_cache(maxsize=64)
def _select_sql(dialect: str, table: str, columns: tuple[str, ...], use_domain: bool) -> str:
    """The SELECT of get_user for one table, column list and use_domain in the SQL of
    the bound database (`dialect`, its class name: the cache key), with the user (and
    domain) and the LIMIT as parameters. Built once: peewee builds and compiles a query
    anew each time, which was 110 of the 130 us of a look-up on SQLite."""
    model = table_model(table)
    extra = [pw.Entity(column) for column in columns]  # unqualified: peewee aliases the table
    query = model.select(model.password, model.ha1, model.ha1b, *extra).where(
        model.username == "")
    if use_domain:
        query = query.where(model.domain == "")
    sql, _ = query.limit(1).sql()
    return sql  # type: ignore[no-any-return]


def get_ha1(username: str, realm: str, table: str, algorithm: str) -> str | None:
    """The HA1 to verify with, or None when the user is unknown."""
    found = get_user(username, realm, table, algorithm)
    return found[0] if found is not None else None


def get_user(username: str, realm: str, table: str, algorithm: str,
             columns: tuple[str, ...] = ()) -> tuple[str, tuple[object, ...]] | None:
    """The HA1 and the values of `columns` (load_credentials: any column of the
    table, also one the model lacks, e.g. pbxgroupid added with ALTER TABLE), or None
    when the user is unknown."""
    user, at, domain = username.partition("@")
    use_domain = bool(SETTINGS["use_domain"])
    params = [user, domain if at else realm, 1] if use_domain else [user, 1]  # 1: LIMIT
    try:
        sql = _select_sql(type(models.database.obj).__name__, table, columns, use_domain)
        with models.database.connection_context():
            row = models.database.execute_sql(sql, params).fetchone()
    except (pw.PeeweeException, AttributeError) as exc:  # AttributeError: proxy unset
        log.error("auth_db: cannot read %s: %s", table, exc)
        raise DatabaseError(f"database unavailable reading {table}: {exc}") from None
    if row is None:
        return None
    password, ha1, ha1b, *values = row
    if SETTINGS["calculate_ha1"]:
        return digest.ha1(username, realm, password, algorithm), tuple(values)
    return str(ha1b if at else ha1), tuple(values)
