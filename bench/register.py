"""Authenticated REGISTERs per second, geosip against Kamailio, on one machine.

What it measures: sipp registers one of the subscribers again and again (bench/sipp/
register_auth.xml: REGISTER -> 401 -> REGISTER with digest credentials -> 200; one "call" =
one registration, two transactions, one subscriber look-up, a new Call-ID each time) at a fixed ladder of rates, against:
- geosip: scripts/default.lua as shipped (auth, auth_db, registrar, usrloc in memory;
  with --usrloc-mode 1 a copy whose usrloc writes through to the location table),
  `--log-level warning`;
- Kamailio 5.6: bench/kamailio/register.cfg, the same steps natively (auth_db, usrloc
  db_mode 0 or 1 as geosip's), with the flags bench/proxy.py uses (-x tlsf, children=2, 1 MB buffers);
each on the subscriber table of an SQLite file and of a throwaway PostgreSQL cluster, both
made by `geosipctl db init` and `geosipctl subscriber add` (Kamailio reads geosip's tables:
same schema). Per server: the highest rate whose run has every registration 200, no
failure, retransmissions under 0.1 %, and the rate sustained; and the server's CPU time
per 1,000 registrations (utime+stime of it and its children, /proc), then the ratios.

Run: .venv/bin/python bench/register.py [--quick] [--db sqlite|postgres|both]
[--target geosip|kamailio|both] [--users N] [--seconds S] [--json FILE]. Uses bench/proxy.py's
process, port, CPU and sipp-statistics helpers; everything runs on 127.0.0.1 UDP, in a
temp folder removed at the end, every child killed. Needs sipp, kamailio with
kamailio-sqlite-modules / kamailio-postgres-modules, and PostgreSQL 15 for --db postgres.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import proxy as common  # noqa: E402  (bench/proxy.py: the shared machinery)

REPO = HERE.parent
HOST = common.HOST
PASSWORD = "bench-secret"
DOMAIN = "bench.example"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DB_MODULE = {"sqlite": "db_sqlite.so", "postgres": "db_postgres.so"}
log = common.log


# --- databases -------------------------------------------------------------------------

def geosipctl(python: str, url: str, *args: str) -> None:
    subprocess.run([python, "-c", "import sys; from geosip.cli.ctl import main; sys.exit(main())",
                    "--db", url, *args], check=True, cwd=REPO, capture_output=True, timeout=600)


def fill(python: str, url: str, users: int) -> None:
    """The tables and `users` subscribers, as an operator makes them."""
    geosipctl(python, url, "db", "init")
    # one geosipctl per user would take minutes: the same command, in one interpreter
    code = ("import sys; from geosip.cli.ctl import main\n"
            f"for i in range({users}):\n"
            f"    rc = main(['--db', {url!r}, 'subscriber', 'add', f'user{{i}}@{DOMAIN}', {PASSWORD!r}])\n"
            "    assert rc == 0, rc\n")
    subprocess.run([python, "-c", code], check=True, cwd=REPO, capture_output=True, timeout=600)


@contextlib.contextmanager
def postgres(tmp: Path):  # type: ignore[no-untyped-def]
    """A throwaway PostgreSQL 15 cluster on a free port; yields its URL."""
    scratch = Path(tempfile.mkdtemp(prefix="geosip-bench-pg-"))  # postgres must enter it
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(scratch, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    (port,) = common.free_udp_ports(1)
    data = scratch / "data"
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True,  # noqa: E731
                                      timeout=120, cwd=scratch)
    try:
        run(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "geosip", "--no-sync")
        run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(scratch / "log"), "-w", "-o",
            f"-k {scratch} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        run(str(PG_BIN / "createdb"), "-h", HOST, "-p", str(port), "-U", "geosip", "bench")
        yield f"postgres://geosip@{HOST}:{port}/bench"
    finally:
        subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


# --- servers -----------------------------------------------------------------------------

# default.lua with usrloc's db_mode changed (its geosip.modules is a list of names).
USRLOC_MODE = """
for i, name in ipairs(geosip.modules) do
  if name == "usrloc" then table.remove(geosip.modules, i) break end
end
geosip.modules.usrloc = {{ db_mode = {mode} }}
"""


def geosip_script(tmp: Path, usrloc_mode: int) -> Path:
    """scripts/default.lua as shipped, or a copy with usrloc in `usrloc_mode`."""
    shipped = REPO / "scripts" / "default.lua"
    if usrloc_mode == 0:
        return shipped
    script = tmp / f"default-usrloc{usrloc_mode}.lua"
    script.write_text(shipped.read_text() + USRLOC_MODE.format(mode=usrloc_mode))
    return script


def start_geosip(args: argparse.Namespace, children: common.Children, tmp: Path, url: str,
                 port: int, label: str) -> subprocess.Popen:
    script = geosip_script(tmp, args.usrloc_mode)
    argv = [args.python, "-c", "import sys; from geosip.cli.main import main; sys.exit(main())",
            "run", "-c", str(script), "-l", f"udp:{HOST}:{port}",
            "--db", url, "--alias", DOMAIN, "--data-dir", str(tmp / f"data-{label}"),
            "--log-level", "warning"]
    return children.start(argv, tmp / f"{label}.log", env=dict(os.environ, PYTHONUNBUFFERED="1"))


def start_kamailio(args: argparse.Namespace, children: common.Children, tmp: Path, url: str,
                   port: int, label: str) -> subprocess.Popen:
    rundir = tmp / f"run-{label}"
    rundir.mkdir()
    db = "sqlite" if url.startswith("sqlite") else "postgres"  # same URLs as geosip's
    argv = [shutil.which("kamailio", path=common.SBIN_PATH) or "kamailio",
            "-f", str(HERE / "kamailio" / "register.cfg"), "-A", f"BENCH_PORT={port}",
            "-A", f'BENCH_DB_MOD="{DB_MODULE[db]}"', "-A", f'BENCH_DB_URL="{url}"',
            "-A", f"BENCH_UL_MODE={args.usrloc_mode}",
            "-DD", "-x", "tlsf", "-m", "512", "-M", "16",
            "-P", str(rundir / "kamailio.pid"), "-Y", str(rundir), "-w", str(rundir)]
    return children.start(argv, tmp / f"{label}.log")


# --- runs --------------------------------------------------------------------------------

def one_run(args: argparse.Namespace, children: common.Children, tmp: Path, users_file: Path,
            port: int, pid: int, rate: int, seconds: float, n: int) -> common.Run:
    calls = max(1, round(rate * seconds))
    limit = seconds * 1.5 + 10
    run, base = common.Run(rate, seconds, calls), tmp / f"reg{n}"
    (uac_port,) = common.free_udp_ports(1)
    argv = ["timeout", "-k", "5", str(int(limit) + 5), "sipp", "-sf",
            str(HERE / "sipp" / "register_auth.xml"), "-i", HOST, "-p", str(uac_port),
            "-m", str(calls), "-r", str(rate), "-l", str(min(15000, max(100, rate * 3))),
            "-buff_size", str(common.BUFF), "-timeout", f"{int(limit)}s", "-nostdin",
            "-inf", str(users_file), "-au", "user0", "-ap", PASSWORD, "-recv_timeout", "5000",
            "-trace_stat", "-stf", f"{base}.csv", "-fd", "3600", f"{HOST}:{port}"]
    ticks0 = common.cpu_ticks(pid)
    proc = children.start(argv, Path(f"{base}.log"))
    run.exit_code = proc.wait()
    children.stop(proc)
    run.cpu_s = (common.cpu_ticks(pid) - ticks0) / os.sysconf("SC_CLK_TCK")
    run.load = os.getloadavg()[0]
    common.judge(run, common.read_sipp_stats(Path(f"{base}.csv")), None)
    if not run.passed:
        time.sleep(3)  # let an overloaded server drain
    return run


def search(args: argparse.Namespace, children: common.Children, tmp: Path, users_file: Path,
           port: int, pid: int, label: str, deadline: float) -> dict:
    """Climb the ladder from --start; a step passes when two runs of --seconds pass."""
    ladder = [r for r in common.LADDER if args.start <= r <= args.max_rate]
    runs: list[dict] = []
    best, upper = None, None
    for rate in ladder:
        if time.monotonic() > deadline:
            break
        pair = []
        for _ in range(2):
            run = one_run(args, children, tmp, users_file, port, pid, rate, args.seconds,
                          len(runs))
            log(f"  [{label}] {rate}/s x {args.seconds:g} s: {run.ok}/{run.calls} ok, "
                f"{run.retrans} retrans, cpu {run.cpu_s:.2f} s -> "
                f"{'pass' if run.passed else 'FAIL: ' + run.note}")
            runs.append(dict(asdict(run), passed=run.passed))
            pair.append(run)
            if not run.passed:
                break
        if all(r.passed for r in pair) and len(pair) == 2:
            best = (rate, pair)
            continue
        upper = rate if any(r.passed for r in pair) else None
        break
    result = {"label": label, "max": None, "upper": upper, "cpu_s_per_1000": None, "runs": runs}
    if best:
        rate, pair = best
        result["max"] = rate
        result["cpu_s_per_1000"] = 1000 * sum(r.cpu_s or 0 for r in pair) / sum(r.calls for r in pair)
    return result


def bench_one(args: argparse.Namespace, children: common.Children, tmp: Path, users_file: Path,
              target: str, db: str, url: str, deadline: float) -> dict:
    label = f"{target} {db}"
    (port,) = common.free_udp_ports(1)
    start = start_geosip if target == "geosip" else start_kamailio
    proc = start(args, children, tmp, url, port, label.replace(" ", "-"))
    try:
        if not common.wait_bound(port, proc, 20):
            tail = (tmp / f"{label.replace(' ', '-')}.log").read_text(errors="replace")[-1500:]
            log(f"  [{label}] did not start:\n{tail}")
            return {"label": label, "error": "did not start"}
        smoke = one_run(args, children, tmp, users_file, port, proc.pid, 5, 0.4, 999)
        if not smoke.passed:
            log(f"  [{label}] smoke registration failed: {smoke.note}")
            return {"label": label, "error": f"smoke failed: {smoke.note}"}
        return search(args, children, tmp, users_file, port, proc.pid, label, deadline)
    finally:
        children.stop(proc)


def table(results: dict, python: str, usrloc_mode: int) -> str:
    head = ["subscriber table", "geosip REGISTER/s", "Kamailio REGISTER/s", "geosip/Kamailio",
            "geosip CPU s/1000", "Kamailio CPU s/1000", "CPU geosip/Kamailio"]
    rows = []
    for db in ("sqlite", "postgres"):
        g, k = results.get(f"geosip {db}"), results.get(f"kamailio {db}")
        if g is None and k is None:
            continue
        cell = lambda r: ("-" if r is None else r.get("error") or  # noqa: E731
                          (f"{r['max']:,}" + (f"-{r['upper']:,}" if r.get("upper") else "")
                           if r["max"] else "fails at lowest rate"))
        gmax, kmax = ((r or {}).get("max") for r in (g, k))
        gcpu, kcpu = ((r or {}).get("cpu_s_per_1000") for r in (g, k))
        rows.append([db, cell(g), cell(k), common.ratio(gmax, kmax),
                     f"{gcpu:.3f}" if gcpu else "-", f"{kcpu:.3f}" if kcpu else "-",
                     common.ratio(gcpu, kcpu)])
    widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head] + rows]
    lines.append("one REGISTER/s = one authenticated registration (REGISTER, 401, REGISTER, 200); "
                 f"usrloc db_mode {usrloc_mode} on both")
    lines.append(f"geosip interpreter: {python}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--target", choices=("geosip", "kamailio", "both"), default="both")
    p.add_argument("--users", type=int, default=1000,
                   help="subscribers in the table (user0 registers)")
    p.add_argument("--seconds", type=float, default=5, help="length of each run (default 5)")
    p.add_argument("--quick", action="store_true", help="2 s runs")
    p.add_argument("--start", type=int, default=100, help="lowest rate tried (default 100/s)")
    p.add_argument("--max-rate", type=int, default=common.LADDER[-1])
    p.add_argument("--budget", type=float, default=900, help="seconds for the whole search")
    p.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    p.add_argument("--usrloc-mode", type=int, choices=(0, 1), default=0,
                   help="usrloc db_mode on both servers: 0 memory (default), 1 write-through "
                        "to the location table of the same database")
    p.add_argument("--json", type=Path)
    p.add_argument("--logs", type=Path, help="keep sipp and server logs in this folder")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 2
    args.python = os.path.abspath(args.python) if os.sep in args.python else args.python
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    targets = ["geosip", "kamailio"] if args.target == "both" else [args.target]
    common.ensure_tools(need_kamailio="kamailio" in targets)
    python = common.python_info(args.python) if "geosip" in targets else "(not used)"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    children, results, status = common.Children(), {}, 0
    deadline = time.monotonic() + args.budget
    with tempfile.TemporaryDirectory(prefix="geosip-bench-reg-") as tmp_name:
        tmp = Path(tmp_name)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            tmp = args.logs.resolve()
        users_file = tmp / "users.csv"
        users_file.write_text(f"SEQUENTIAL\nuser0;{DOMAIN}\n")
        try:
            for db in dbs:
                with contextlib.ExitStack() as stack:
                    url = (f"sqlite:///{tmp / 'bench.sqlite'}" if db == "sqlite"
                           else stack.enter_context(postgres(tmp)))
                    log(f"{db}: {args.users} subscribers")
                    fill(args.python, url, args.users)
                    for target in targets:
                        log(f"{target} on {db}")
                        results[f"{target} {db}"] = bench_one(args, children, tmp, users_file,
                                                              target, db, url, deadline)
        except KeyboardInterrupt:
            log("interrupted: the table shows what finished")
            status = 130
        finally:
            children.stop_all()
    print(table(results, python, args.usrloc_mode))
    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "python": python,
            "cpus": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()},
            "versions": {exe: common.tool_version(exe) for exe in ("sipp", "kamailio")},
            "results": results}, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
