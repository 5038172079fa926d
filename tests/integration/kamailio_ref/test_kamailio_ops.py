"""Kamailio as the reference for the modules operators use every day (issues #4-#6):
per topic one KEMI script, tests/integration/scripts/compat_<topic>.lua, runs
unchanged on Kamailio 5.6 (app_lua, kamailio_ops.cfg with -A WITH_<TOPIC>) and on
geosip (`geosip run -c`); the same sipp suite drives both, and what a user would
notice must be the same:

  auth        geosipctl's subscriber table read by Kamailio's auth_db (db_sqlite) and
              by geosip's: REGISTER 401 -> 200 (status, reason, the Contacts of the
              200), wrong password, unknown user; a call to the registered user
              reaches its phone, a call to anyone else gets 404
  dispatcher  3 destinations (sipp callees) per set: algorithm 0 (Call-ID hash),
              4 (round robin), 4 with failover to ds_next_dst on a 500; which callee
              got each call (Call-IDs are the same in both runs)
  htable      per-From-user counter (htable without initval: sht_inc's -255, $shtdec's
              $null), a value read with sql_query (SQLite) and its KEMI codes,
              KSR.hdr.append / append_to_reply, send_reply with a reason made of PVs:
              the headers the callee sees, the caller's status, reason and headers
  acc         acc's db_flag and failed_transaction_flag: the rows of the acc table
              (method, from_tag, to_tag, callid, sip_code, sip_reason; time within
              the run)

Each test runs Kamailio first, asserts that it gives EXPECTED (so a broken reference
is told apart from a geosip bug), then geosip, and compares the two outcomes.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import _free_port

from .._proxy import HOST, Proxy
from .._sipp import Sipp, SippResult
from ._kamailio import Kamailio, require

HERE = Path(__file__).resolve().parent
CFG = HERE / "kamailio_ops.cfg"
SCRIPTS = HERE.parent / "scripts"

Outcome = dict[str, object]
Suite = Callable[[str, Path], tuple[Outcome, list[SippResult]]]


# ---- running one topic on both servers -----------------------------------------------


class Peers:
    """The sipps of one suite run, in `folder`; all killed by close()."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.all: list[Sipp] = []
        self.results: list[SippResult] = []

    def sipp(self, name: str, scenario: Path, *, port: int | None = None,
             **kwargs: object) -> Sipp:
        keys = kwargs.get("keys") or {}
        if "cid" in keys:  # type: ignore[operator]
            # fixed Call-IDs: sipp matches responses by its own [call_id], so set that
            kwargs["extra"] = [*kwargs.get("extra", []),  # type: ignore[misc]
                               "-cid_str", f"{keys['cid']}-%u@geosip.test"]  # type: ignore[index]
        self.all.append(Sipp(name, scenario, self.folder, port=port or _free_port(),
                             wall=20.0, **kwargs))  # type: ignore[arg-type]
        return self.all[-1]

    def run(self, caller: Sipp) -> SippResult:
        self.results.append(caller.run())
        return self.results[-1]

    def stop(self, callee: Sipp) -> SippResult:
        """End a callee that serves an unknown number of calls: sipp writes its trace
        as it goes, and a SIGTERM ends it."""
        time.sleep(0.3)  # the last ACK or BYE 200 on its way
        callee.kill()
        self.results.append(callee.result())
        return self.results[-1]

    def report(self) -> str:
        return "\n\n".join(r.report(60) for r in self.results)

    def close(self) -> None:
        for peer in self.all:
            peer.kill()


def finals(result: SippResult) -> list[str]:
    """`STATUS reason` of each final response the caller got."""
    return [m.start_line.split(" ", 1)[1] for m in result.finals()]


def reply_uas(folder: Path, code: int, reason: str) -> Path:
    """reply_uas.xml answering `code reason` (sipp takes no status from -key)."""
    path = folder / f"reply_{code}_uas.xml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text((HERE / "reply_uas.xml").read_text()
                    .replace("@CODE@", str(code)).replace("@REASON@", reason))
    return path


def geosipctl(db: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "geosip.cli.ctl", "--db", sqlite_url(db),
                           *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def sqlite_url(db: Path) -> str:
    """sqlite:////abs/path: geosip's form, and db_sqlite's (which drops one slash)."""
    return f"sqlite:///{db.resolve()}"


def compare(tmp_path: Path, proxy: Callable[..., Proxy], topic: str,
            expected: Outcome, suite: Suite,
            prepare: Callable[[Path], dict[str, str | None]]) -> None:
    """Kamailio, then geosip, on compat_<topic>.lua; `prepare(folder)` sets up the
    folder (database, list file) and returns Kamailio's -A defines for it."""
    require("db_sqlite", *{"auth": ("auth_db", "registrar"), "dispatcher": ("dispatcher",),
                           "htable": ("htable", "sqlops"), "acc": ("acc",)}[topic])
    script = SCRIPTS / f"compat_{topic}.lua"
    kfolder = tmp_path / "kamailio"
    kfolder.mkdir()
    defines = {f"WITH_{topic.upper()}": None, **prepare(kfolder)}
    kamailio = Kamailio(kfolder, _free_port(), CFG, script, defines)
    try:
        kamailio.wait_ready()
        reference, kresults = suite(kamailio.addr, kfolder / "sipp")
    finally:
        kamailio.stop()
    assert reference == expected, (
        f"Kamailio (the reference) answered otherwise than expected:\n{reference}\n\n"
        + "\n\n".join(r.report(60) for r in kresults)
        + "\n\n==== kamailio log:\n" + kamailio.log()[-8000:])

    # geosip runs in tmp_path (the proxy fixture's cwd): the script's relative paths
    defines = prepare(tmp_path)
    p = proxy("-c", str(script), *(["--db", defines["DBURL"].strip('"')]  # type: ignore[union-attr]
                                   if defines.get("DBURL") else []))
    outcome, results = suite(p.addr(), tmp_path / "sipp")
    assert outcome == reference, (
        "geosip and Kamailio answered the same script differently:\n"
        f"geosip:   {outcome}\nKamailio: {reference}\n\n"
        + "\n\n".join(r.report(60) for r in results)
        + "\n\n==== geosip log:\n" + p.log()[-12000:])
    p.assert_no_tracebacks()


def subscriber_db(folder: Path) -> dict[str, str | None]:
    """geosip's database in `folder`, made as an operator makes it with geosipctl."""
    db = folder / "db.sqlite"
    geosipctl(db, "db", "init")
    geosipctl(db, "subscriber", "add", "alice@example.com", "secret")
    return {"DBURL": f'"{sqlite_url(db)}"'}


# ---- 1. auth + registrar ---------------------------------------------------------------

AUTH_EXPECTED: Outcome = {
    # each REGISTER is challenged first; then auth_check's code decides
    "wrong password": ["401 Unauthorized", "403 Forbidden (auth -2)"],
    "unknown user": ["401 Unauthorized", "403 Forbidden (auth -3)"],
    "register": ["401 Unauthorized", "200 OK"],
    "contacts": ["<sip:alice@127.0.0.1:PHONE;transport=UDP>;expires=120"],
    "call alice": ["200 OK", "200 OK"],
    "alice's phone got": ["INVITE sip:alice@127.0.0.1:PHONE;transport=UDP", "ACK", "BYE"],
    "call bob": ["404 Not Found (lookup -1)"],
}


def auth_suite(server: str, folder: Path) -> tuple[Outcome, list[SippResult]]:
    peers = Peers(folder)
    out: Outcome = {}
    phone_port = _free_port()

    def register(name: str, user: str, password: str) -> SippResult:
        return peers.run(peers.sipp(
            name, HERE / "digest_register_uac.xml", remote=server,
            keys={"user": user, "domain": "example.com", "contact_port": str(phone_port)},
            extra=["-au", user, "-ap", password]))

    def phone_view(text: str) -> str:
        return text.replace(f":{phone_port}", ":PHONE")

    try:
        out["wrong password"] = finals(register("wrong-password", "alice", "wrong"))
        out["unknown user"] = finals(register("unknown-user", "mallory", "secret"))
        registered = register("register", "alice", "secret")
        out["register"] = finals(registered)
        out["contacts"] = [phone_view(c) for m in registered.received(status=200)
                           for c in m.values("Contact")]
        phone = peers.sipp("phone", HERE / "answer_uas.xml", port=phone_port).start()
        phone.wait_listening()
        call = peers.run(peers.sipp("call-alice", HERE / "fixed_call_uac.xml", remote=server,
                                    keys={"user": "alice", "from": "carol", "cid": "auth"}))
        out["call alice"] = finals(call)
        got = peers.stop(phone)
        out["alice's phone got"] = [phone_view(m.start_line.rsplit(" ", 1)[0])
                                    if m.method == "INVITE" else m.method
                                    for m in got.received() if not m.is_response]
        out["call bob"] = finals(peers.run(peers.sipp(
            "call-bob", HERE / "fixed_invite_uac.xml", remote=server,
            keys={"user": "bob", "from": "carol", "cid": "auth404"})))
        return out, peers.results
    finally:
        peers.close()


def test_auth_registrar(tmp_path: Path, proxy: Callable[..., Proxy]) -> None:
    compare(tmp_path, proxy, "auth", AUTH_EXPECTED, auth_suite, subscriber_db)


# ---- 2. dispatcher -------------------------------------------------------------------

# (Call-ID prefix, Request-URI user: the algorithm, calls); 12 Call-IDs hash onto all
# of a, b, c; "häsh" Call-IDs carry bytes >= 0x80, which ds_get_hash reads as signed
# chars (read unsigned, every one of them would reach another callee)
CALLS = [("hash", "hash", 12), ("h\u00e4sh", "hash", 6), ("rr", "rr", 6),
         ("fail", "fail", 3)]
DS_EXPECTED: Outcome = {
    "hash: caller got": ["486 Busy Here"] * 12,
    "h\u00e4sh: caller got": ["486 Busy Here"] * 6,
    "rr: caller got": ["486 Busy Here"] * 6,
    "fail: caller got": ["486 Busy Here"] * 3,  # the 500 is never the best reply
    # equal priorities: index 0 is the set's LAST line (c; in set 3 b), so
    # ds_get_hash(Call-ID) % 3 = 0 is c and round robin starts with c
    **{f"hash-{n}@geosip.test": [dest] for n, dest in enumerate("cccaaaacabbb", 1)},
    **{f"h\u00e4sh-{n}@geosip.test": [dest] for n, dest in enumerate("bbbbab", 1)},
    **{f"rr-{n}@geosip.test": [dest] for n, dest in enumerate("cbacba", 1)},
    # round robin in set 3 (indexed b, a, bad): bad answers 500, the failure route's
    # ds_next_dst takes the next index, wrapping round to b
    "fail-1@geosip.test": ["b"], "fail-2@geosip.test": ["a"],
    "fail-3@geosip.test": ["bad", "b"],
}


def ds_prepare(ports: dict[str, int]) -> Callable[[Path], dict[str, str | None]]:
    """The list file: sets 1 and 2 are callees a, b, c; set 3 is `bad` (answers 500),
    then a and b; all of the same priority, so the order of the index is Kamailio's
    for ties: the reverse of the file's (dispatch.c: add_dest2list inserts each line
    after its equals, reindex_dests copies the list backwards: index 0 is the set's
    last line). It decides which callee a Call-ID hash and a round robin step reach."""
    def prepare(folder: Path) -> dict[str, str | None]:
        uri = {name: f"sip:{HOST}:{port}" for name, port in ports.items()}
        lines = [f"{s} {uri[n]} 0 0" for s in (1, 2) for n in "abc"]
        lines += [f"3 {uri[n]} 0 0" for n in ("bad", "a", "b")]
        path = folder / "compat_dispatcher.list"
        path.write_text("# setid destination\n" + "\n".join(lines) + "\n")
        return {"DSLIST": f'"{path}"'}
    return prepare


def ds_suite(ports: dict[str, int]) -> Suite:
    def suite(server: str, folder: Path) -> tuple[Outcome, list[SippResult]]:
        peers = Peers(folder)
        try:
            busy, broken = reply_uas(folder, 486, "Busy Here"), reply_uas(folder, 500,
                                                                            "Server Error")
            callees = {name: peers.sipp(name, broken if name == "bad" else busy,
                                        port=port, calls=100).start()
                       for name, port in ports.items()}
            for callee in callees.values():
                callee.wait_listening()
            out: Outcome = {}
            for cid, user, calls in CALLS:
                caller = peers.run(peers.sipp(
                    f"caller-{cid}", HERE / "fixed_invite_uac.xml", remote=server,
                    calls=calls, rate=20, keys={"user": user, "from": "carol", "cid": cid}))
                out[f"{cid}: caller got"] = finals(caller)
            got: list[tuple[float, str, str]] = []
            for name, callee in callees.items():
                got += [(m.when, m.header("Call-ID")[0], name)
                        for m in peers.stop(callee).received("INVITE")]
            # which callees each call reached, in order (Call-IDs are the same in both
            # runs: the Call-ID hash must pick the same destination)
            for _, callid, name in sorted(got):
                out.setdefault(callid, [])
                out[callid].append(name)  # type: ignore[union-attr]
            return out, peers.results
        finally:
            peers.close()
    return suite


def test_dispatcher(tmp_path: Path, proxy: Callable[..., Proxy]) -> None:
    ports = {name: _free_port() for name in ("a", "b", "c", "bad")}
    compare(tmp_path, proxy, "dispatcher", DS_EXPECTED, ds_suite(ports), ds_prepare(ports))


# ---- 3. htable + sqlops + hdr/pv -------------------------------------------------------

def greetings_db(folder: Path) -> dict[str, str | None]:
    """A small SQLite table the script reads with sql_query."""
    db = folder / "db.sqlite"
    geosipctl(db, "db", "init")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE compat_greetings (username TEXT, greeting TEXT)")
        conn.executemany("INSERT INTO compat_greetings VALUES (?, ?)",
                         [("alice", "Hello"), ("bob", "Howdy")])
    return {"DBURL": f'"{sqlite_url(db)}"', "SQLCON": f'"ca=>{sqlite_url(db)}"'}


HTABLE_EXPECTED: Outcome = {
    "alice-1: caller got": ["486 Busy Here"],
    "bob-1: caller got": ["486 Busy Here"],
    "alice-2: caller got": ["486 Busy Here"],
    # sht_inc of an item missing from a table without initval: -255, nothing created
    # ($shtdec too: $null); KEMI's sql_query: 0 for a success with rows and without,
    # -1 for an error
    "callee saw": [[f"X-{h}" for h in (f"Count: {n}", f"Inc: {inc}", "Missing: nil/nil",
                                       f"Greeting: {g}", "Sql: 0", "Sql-Error: -1")]
                   for n, inc, g in ((1, -255, "Hello"), (1, -255, "Howdy"), (2, 2, "Hello"))],
    "echo-alice-1: caller got": ["480 Hello alice #3 INVITE from 127.0.0.1"],
    "echo-alice-1: reply headers": ["X-Count: 3", "X-Inc: 3", "X-Sql: 0"],
    "echo-carol-1: caller got": ["480 none carol #1 INVITE from 127.0.0.1"],
    "echo-carol-1: reply headers": ["X-Count: 1", "X-Inc: -255", "X-Sql: 0"],
}


def htable_suite(server: str, folder: Path) -> tuple[Outcome, list[SippResult]]:
    peers = Peers(folder)
    out: Outcome = {}
    try:
        callee = peers.sipp("callee", reply_uas(folder, 486, "Busy Here"), calls=100).start()
        callee.wait_listening()
        for cid, user in (("alice-1", "alice"), ("bob-1", "bob"), ("alice-2", "alice")):
            out[f"{cid}: caller got"] = finals(peers.run(peers.sipp(
                cid, HERE / "fixed_invite_uac.xml", remote=f"{HOST}:{callee.port}",
                proxy=server, keys={"user": "service", "from": user, "cid": cid})))
        got = peers.stop(callee).received("INVITE")
        out["callee saw"] = [[f"{h}: {v}" for h in ("X-Count", "X-Inc", "X-Missing",
                                                    "X-Greeting", "X-Sql", "X-Sql-Error")
                              for v in m.header(h)] for m in got]
        for cid, user in (("echo-alice-1", "alice"), ("echo-carol-1", "carol")):
            result = peers.run(peers.sipp(cid, HERE / "fixed_invite_uac.xml", remote=server,
                                          keys={"user": "echo", "from": user, "cid": cid}))
            out[f"{cid}: caller got"] = finals(result)
            out[f"{cid}: reply headers"] = [f"{h}: {v}" for m in result.finals()
                                            for h in ("X-Count", "X-Inc", "X-Sql")
                                            for v in m.header(h)]
        return out, peers.results
    finally:
        peers.close()


def test_htable_sqlops_headers(tmp_path: Path, proxy: Callable[..., Proxy]) -> None:
    compare(tmp_path, proxy, "htable", HTABLE_EXPECTED, htable_suite, greetings_db)


# ---- 4. acc --------------------------------------------------------------------------

ACC_EXPECTED: Outcome = {
    "answered: caller got": ["200 OK", "200 OK"],
    "busy: caller got": ["486 Busy Here"],
    # (method, from_tag, to_tag, callid, sip_code, sip_reason), sorted
    "acc rows": [("BYE", "answered-1", "uas-1", "answered-1@geosip.test", "200", "OK"),
                 ("INVITE", "answered-1", "uas-1", "answered-1@geosip.test", "200", "OK"),
                 ("INVITE", "busy-1", "uas-1", "busy-1@geosip.test", "486", "Busy Here")],
    "times within the run": True,
}


def stored_time(value: object) -> datetime:
    """A DATETIME as the writer left it: geosip's text, or db_sqlite's Julian day
    number (Kamailio binds DATETIME columns as REAL julianday, in local time)."""
    if isinstance(value, float):
        return datetime.utcfromtimestamp((value - 2440587.5) * 86400.0)
    return datetime.fromisoformat(str(value))


def acc_suite_in(db_of: Callable[[Path], Path]) -> Suite:
    def suite(server: str, folder: Path) -> tuple[Outcome, list[SippResult]]:
        peers = Peers(folder)
        out: Outcome = {}
        started = datetime.now() - timedelta(seconds=2)  # stored times are rounded
        try:
            answer = peers.sipp("answer", HERE / "answer_uas.xml").start()
            busy = peers.sipp("busy", reply_uas(folder, 486, "Busy Here")).start()
            answer.wait_listening()
            busy.wait_listening()
            out["answered: caller got"] = finals(peers.run(peers.sipp(
                "answered", HERE / "fixed_call_uac.xml", remote=f"{HOST}:{answer.port}",
                proxy=server, keys={"user": "service", "from": "carol", "cid": "answered"})))
            out["busy: caller got"] = finals(peers.run(peers.sipp(
                "busy-caller", HERE / "fixed_invite_uac.xml", remote=f"{HOST}:{busy.port}",
                proxy=server, keys={"user": "service", "from": "carol", "cid": "busy"})))
            peers.results += [answer.wait(), busy.wait()]
            time.sleep(0.5)  # the last row on its way to the database
            ended = datetime.now() + timedelta(seconds=2)
            with sqlite3.connect(db_of(folder)) as conn:
                rows = conn.execute("SELECT method, from_tag, to_tag, callid, sip_code, "
                                    "sip_reason, time FROM acc").fetchall()
            out["acc rows"] = sorted(tuple(r[:6]) for r in rows)
            times = [stored_time(r[6]) for r in rows]
            out["times within the run"] = bool(times) and all(
                started <= t <= ended for t in times) or [str(t) for t in times]
            return out, peers.results
        finally:
            peers.close()
    return suite


def test_acc(tmp_path: Path, proxy: Callable[..., Proxy]) -> None:
    # the suite runs in <folder>/sipp; the database is prepare's <folder>/db.sqlite
    compare(tmp_path, proxy, "acc", ACC_EXPECTED,
            acc_suite_in(lambda sipp_folder: sipp_folder.parent / "db.sqlite"),
            subscriber_db)
