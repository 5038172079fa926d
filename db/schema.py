"""Create, complete and describe geosip's tables (Kamailio 5.6 schema, geosip.db.models).

  bind(db)        point the models' DatabaseProxy at `db`.
  init(db)        create every table and its `version` row; refuses (AlreadyInitialised)
                  when any geosip table exists already, like kamdbctl create.
  migrate(db)     create the tables that are missing (with their version rows), and report
                  the ones that exist with their version; a version other than geosip's is
                  reported (`outdated`), not altered: converting data is a later step.
  show(db)        every table geosip knows: present or not, its version, its row count.
  missing(db)     the table names that do not exist yet.

All writes run inside one transaction with no I/O but the database's own (SQLite rule,
STACK-NOTES.md §6). On PostgreSQL the DDL is transactional too: all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import peewee as pw

from geosip.db.models import MODELS, TABLE_VERSIONS, Version, database

__all__ = ["AlreadyInitialised", "MigrateReport", "TableInfo", "bind", "init", "migrate",
           "show", "missing", "TABLES"]

TABLES: tuple[str, ...] = tuple(m._meta.table_name for m in MODELS)


class AlreadyInitialised(Exception):
    """init found geosip tables in the database."""

    def __init__(self, tables: list[str]) -> None:
        self.tables = tables
        super().__init__(f"{len(tables)} of {len(TABLES)} tables exist already "
                         f"({', '.join(tables)})")


@dataclass
class MigrateReport:
    created: list[str] = field(default_factory=list)
    existing: list[tuple[str, int | None]] = field(default_factory=list)  # (table, version)
    outdated: list[tuple[str, int | None, int]] = field(default_factory=list)  # found, wanted


@dataclass(frozen=True)
class TableInfo:
    table: str
    exists: bool
    version: int | None  # None: no row in `version`
    expected_version: int
    rows: int | None  # None when the table does not exist


def bind(db: pw.Database) -> None:
    database.initialize(db)


def missing(db: pw.Database) -> list[str]:
    present = set(db.get_tables())
    return [t for t in TABLES if t not in present]


def init(db: pw.Database) -> list[str]:
    """Create every table; returns their names. Raises AlreadyInitialised."""
    bind(db)
    with db.connection_context():
        absent = missing(db)
        present = [t for t in TABLES if t not in absent]
        if present:
            raise AlreadyInitialised(present)
        return _create(db, list(TABLES))


def migrate(db: pw.Database) -> MigrateReport:
    bind(db)
    report = MigrateReport()
    with db.connection_context():
        absent = missing(db)
        if "version" not in absent:
            versions = _versions()
        else:
            versions = {}
        for table in TABLES:
            if table in absent:
                continue
            found = versions.get(table)
            report.existing.append((table, found))
            if found != TABLE_VERSIONS[table]:
                report.outdated.append((table, found, TABLE_VERSIONS[table]))
        report.created = _create(db, absent) if absent else []
    return report


def show(db: pw.Database) -> list[TableInfo]:
    bind(db)
    with db.connection_context():
        absent = set(missing(db))
        versions = _versions() if "version" not in absent else {}
        infos = []
        for model in MODELS:
            table = model._meta.table_name
            exists = table not in absent
            infos.append(TableInfo(
                table=table, exists=exists, version=versions.get(table),
                expected_version=TABLE_VERSIONS[table],
                rows=model.select().count() if exists else None,
            ))
        return infos


def _versions() -> dict[str, int]:
    return {row.table_name: row.table_version for row in Version.select()}


def _create(db: pw.Database, tables: list[str]) -> list[str]:
    models = [m for m in MODELS if m._meta.table_name in tables]
    with db.atomic():
        db.create_tables(models, safe=True)
        for model in models:
            name = model._meta.table_name
            # A version row may survive its table (dropped by hand): replace it.
            Version.delete().where(Version.table_name == name).execute()
            Version.create(table_name=name, table_version=TABLE_VERSIONS[name])
    return [m._meta.table_name for m in models]
