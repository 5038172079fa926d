"""`geosipctl db|subscriber|domain ...`: the database commands, like kamdbctl and kamctl.

  geosipctl [--db URL] [--data-dir DIR] db init|migrate|show
  geosipctl ... subscriber add USER@DOMAIN PASSWORD | rm USER@DOMAIN
                | passwd USER@DOMAIN PASSWORD | list [DOMAIN]
  geosipctl ... domain add DOMAIN | rm DOMAIN | list

The database is --db URL, else the SQLite file geosip.sqlite in --data-dir (default
./geosip-data, as `geosip run`). They work on the database directly, with no server running
(kamctl does the same for these commands).

Exit codes: 0 done; 1 the command could not be done (no database, database unreachable,
duplicate or unknown subscriber/domain, tables already there); 2 usage (bad arguments,
malformed USER@DOMAIN or URL). Every error is one line on stderr starting "geosipctl: ".

No gevent here, on purpose: geosipctl is a short-lived, single-threaded CLI that runs a few
queries in a row, so cooperative I/O buys nothing and monkey-patching would cost about a
second of start-up. Without patching, peewee's connection state is plain thread-local,
which is right for one thread; psycopg 3 works the same either way (STACK-NOTES.md §6).
The rule "patch before importing peewee" binds the server (`geosip run`), which does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

DEFAULT_DATA_DIR = "./geosip-data"  # as `geosip run` (geosip.cli.main)
COMMANDS = ("db", "subscriber", "domain")


class CtlError(Exception):
    """A one-line error for the user, with the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    # One line, not argparse's usage block, and exit 2 as argparse does.
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CtlError(f"{self.prog.removeprefix('geosipctl ')}: {message}"
                       if self.prog != "geosipctl" else message, 2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="geosipctl", description="geosip's database commands")
    parser.add_argument("--db", metavar="URL", help="database URL: sqlite:///PATH or "
                        "postgres://USER:PASSWORD@HOST:PORT/DBNAME (default: the SQLite file "
                        "geosip.sqlite in the data dir)")
    parser.add_argument("--data-dir", metavar="DIR", default=DEFAULT_DATA_DIR,
                        help=f"the server's data folder (default: {DEFAULT_DATA_DIR})")
    groups = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)

    db = groups.add_parser("db", help="create, complete or describe the tables")
    db_cmds = db.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    db_cmds.add_parser("init", help="create every table (Kamailio 5.6 schema)")
    db_cmds.add_parser("migrate", help="create the missing tables, report the others")
    db_cmds.add_parser("show", help="tables with their version and row count")

    sub = groups.add_parser("subscriber", help="SIP accounts (table subscriber)")
    sub_cmds = sub.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    p = sub_cmds.add_parser("add", help="add an account")
    p.add_argument("aor", metavar="USER@DOMAIN")
    p.add_argument("password")
    p = sub_cmds.add_parser("rm", help="remove an account")
    p.add_argument("aor", metavar="USER@DOMAIN")
    p = sub_cmds.add_parser("passwd", help="change a password")
    p.add_argument("aor", metavar="USER@DOMAIN")
    p.add_argument("password")
    p = sub_cmds.add_parser("list", help="list accounts, of one domain or all")
    p.add_argument("domain", nargs="?")

    dom = groups.add_parser("domain", help="local domains (table domain)")
    dom_cmds = dom.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    dom_cmds.add_parser("add", help="add a domain").add_argument("domain")
    dom_cmds.add_parser("rm", help="remove a domain").add_argument("domain")
    dom_cmds.add_parser("list", help="list the domains")
    return parser


def split_aor(text: str) -> tuple[str, str]:
    """("alice", "example.com") from "alice@example.com" (a "sip:" prefix is allowed)."""
    aor = text.removeprefix("sip:")
    user, at, domain = aor.rpartition("@")
    if not at or not user or not domain or any(c.isspace() or c in "@:;<>\"" for c in domain) \
            or any(c.isspace() or c in ":;<>\"" for c in user):
        raise CtlError(f"malformed USER@DOMAIN {text!r}: expected e.g. alice@example.com", 2)
    return user, domain


def _check_domain(text: str) -> str:
    if not text or any(c.isspace() or c in "@:;<>\"/" for c in text):
        raise CtlError(f"malformed domain {text!r}: expected e.g. example.com", 2)
    return text


def main(argv: Sequence[str]) -> int:
    try:
        args = build_parser().parse_args(list(argv))
        # Validate arguments before opening anything: a typo costs no connection.
        if args.group == "subscriber" and args.cmd != "list":
            args.user, args.domain = split_aor(args.aor)
        elif args.group == "domain" and args.cmd != "list":
            _check_domain(args.domain)
        return _run(args)
    except CtlError as e:
        print(f"geosipctl: {e}", file=sys.stderr)
        return e.code


def _run(args: argparse.Namespace) -> int:
    # peewee is imported only here, so `geosipctl --help` stays fast.
    import peewee as pw

    from geosip.db import schema
    from geosip.db.connect import DatabaseUnavailable, default_url, mask_url, open_database
    from geosip.db.connect import sqlite_path, unavailable

    url = args.db or default_url(args.data_dir)
    shown = mask_url(url)
    creating = args.group == "db" and args.cmd in ("init", "migrate")
    path = sqlite_path(url)
    if path is not None:
        if creating:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise CtlError(f"cannot create {path.parent}: {e.strerror or e}") from None
        elif not path.exists():
            raise CtlError(f"no database at {shown}: run `geosipctl db init`")
    try:
        db = open_database(url)
    except ValueError as e:
        raise CtlError(str(e), 2) from None
    except DatabaseUnavailable as e:
        raise CtlError(str(e)) from None
    try:
        schema.bind(db)
        with db.connection_context():
            if (args.group, args.cmd) == ("db", "show") \
                    and len(schema.missing(db)) == len(schema.TABLES):
                raise CtlError(f"no database at {shown}: run `geosipctl db init`")
            handler = HANDLERS[(args.group, args.cmd)]
            return handler(db, args, shown)
    except pw.OperationalError as e:
        raise CtlError(str(unavailable(url, e))) from None
    finally:
        if not db.is_closed():
            db.close()
        close_all = getattr(db, "close_all", None)
        if close_all is not None:
            close_all()


# -- handlers: (db, args, shown URL) -> exit code ------------------------------------------

def _need(db, shown: str, *tables: str) -> None:  # type: ignore[no-untyped-def]
    from geosip.db import schema

    if set(tables) & set(schema.missing(db)):
        raise CtlError(f"no database at {shown}: run `geosipctl db init`"
                       if len(schema.missing(db)) == len(schema.TABLES)
                       else f"table {', '.join(tables)} missing in {shown}: "
                       "run `geosipctl db migrate`")


def _db_init(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db import schema

    try:
        created = schema.init(db)
    except schema.AlreadyInitialised as e:
        raise CtlError(f"{shown} is initialised already: {e}; "
                       "use `geosipctl db migrate` or `geosipctl db show`") from None
    print(f"created {len(created)} tables in {shown}: {', '.join(created)}")
    return 0


def _db_migrate(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db import schema

    report = schema.migrate(db)
    for table, version in report.existing:
        print(f"exists   {table} (version {version if version is not None else 'none'})")
    for table in report.created:
        print(f"created  {table}")
    for table, found, wanted in report.outdated:
        print(f"geosipctl: {table} has version {found if found is not None else 'none'}, "
              f"geosip expects {wanted}: not converted", file=sys.stderr)
    print(f"{len(report.created)} created, {len(report.existing)} existing in {shown}")
    return 1 if report.outdated else 0


def _db_show(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db import schema

    print(shown)
    print(f"{'table':<16} {'version':>7} {'rows':>8}")
    for info in schema.show(db):
        if not info.exists:
            print(f"{info.table:<16} {'-':>7} {'missing':>8}")
            continue
        version = "none" if info.version is None else str(info.version)
        if info.version != info.expected_version:
            version += f" (geosip: {info.expected_version})"
        print(f"{info.table:<16} {version:>7} {info.rows:>8}")
    return 0


def _hashes(user: str, domain: str, password: str) -> dict[str, str]:
    # As kamctl: ha1 over the username, ha1b over "user@domain", both with realm = domain.
    from geosip.sip.digest import ha1

    return {"password": password, "ha1": ha1(user, domain, password),
            "ha1b": ha1(f"{user}@{domain}", domain, password)}


def _sub_add(db, args, shown):  # type: ignore[no-untyped-def]
    import peewee as pw

    from geosip.db.models import Subscriber

    _need(db, shown, "subscriber")
    with db.atomic():
        if Subscriber.select().where((Subscriber.username == args.user)
                                     & (Subscriber.domain == args.domain)).exists():
            raise CtlError(f"subscriber {args.user}@{args.domain} exists already")
        try:
            Subscriber.create(username=args.user, domain=args.domain,
                              **_hashes(args.user, args.domain, args.password))
        except pw.IntegrityError:  # added by someone else since the check
            raise CtlError(f"subscriber {args.user}@{args.domain} exists already") from None
    print(f"added subscriber {args.user}@{args.domain}")
    return 0


def _sub_rm(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db.models import Subscriber

    _need(db, shown, "subscriber")
    with db.atomic():
        n = Subscriber.delete().where((Subscriber.username == args.user)
                                      & (Subscriber.domain == args.domain)).execute()
    if not n:
        raise CtlError(f"no subscriber {args.user}@{args.domain}")
    print(f"removed subscriber {args.user}@{args.domain}")
    return 0


def _sub_passwd(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db.models import Subscriber

    _need(db, shown, "subscriber")
    with db.atomic():
        n = Subscriber.update(**_hashes(args.user, args.domain, args.password)).where(
            (Subscriber.username == args.user) & (Subscriber.domain == args.domain)).execute()
    if not n:
        raise CtlError(f"no subscriber {args.user}@{args.domain}")
    print(f"changed the password of {args.user}@{args.domain}")
    return 0


def _sub_list(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db.models import Subscriber

    _need(db, shown, "subscriber")
    query = Subscriber.select(Subscriber.username, Subscriber.domain)
    if args.domain:
        query = query.where(Subscriber.domain == args.domain)
    for row in query.order_by(Subscriber.domain, Subscriber.username):
        print(f"{row.username}@{row.domain}")
    return 0


def _dom_add(db, args, shown):  # type: ignore[no-untyped-def]
    import datetime as dt

    from geosip.db.models import Domain

    _need(db, shown, "domain")
    with db.atomic():
        if Domain.select().where(Domain.domain == args.domain).exists():
            raise CtlError(f"domain {args.domain} exists already")
        Domain.create(domain=args.domain,
                      last_modified=dt.datetime.now().replace(microsecond=0))
    print(f"added domain {args.domain}")
    return 0


def _dom_rm(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db.models import Domain

    _need(db, shown, "domain")
    with db.atomic():
        n = Domain.delete().where(Domain.domain == args.domain).execute()
    if not n:
        raise CtlError(f"no domain {args.domain}")
    print(f"removed domain {args.domain}")
    return 0


def _dom_list(db, args, shown):  # type: ignore[no-untyped-def]
    from geosip.db.models import Domain

    _need(db, shown, "domain")
    for row in Domain.select(Domain.domain).order_by(Domain.domain):
        print(row.domain)
    return 0


HANDLERS: dict[tuple[str, str], Callable[..., int]] = {
    ("db", "init"): _db_init, ("db", "migrate"): _db_migrate, ("db", "show"): _db_show,
    ("subscriber", "add"): _sub_add, ("subscriber", "rm"): _sub_rm,
    ("subscriber", "passwd"): _sub_passwd, ("subscriber", "list"): _sub_list,
    ("domain", "add"): _dom_add, ("domain", "rm"): _dom_rm, ("domain", "list"): _dom_list,
}
