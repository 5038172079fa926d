"""Highest sustained call rate through a SIP proxy, geosip against Kamailio, on one machine.

What it measures: sipp places calls (INVITE, 100/180/200, ACK, BYE, 200; bench/sipp/uac.xml)
through a proxy on 127.0.0.1 UDP to a sipp UAS (bench/sipp/uas.xml). For each scenario --
direct (sipp -> sipp, no proxy: the load generator's own limit), stateless (geosip
`--router forward`, Kamailio `forward()`), stateful (geosip `--router relay`, Kamailio
`t_relay()`; bench/kamailio/*.cfg) and stateful-lua (bench/lua/proxy.lua, the same KEMI
script on both: geosip -c, Kamailio app_lua) -- it finds the highest rate of a fixed ladder at which
two runs of --seconds each have zero failed calls and retransmissions under 0.1 % of calls,
and the server's CPU time per 1,000 calls at that rate (utime + stime of the server process
and all its descendants, from /proc/PID/stat, sampled just before and just after the UAC run).

How a run is judged (sipp's exit code alone is not enough: a run cut by -timeout exits 0):
it passes when the UAC exits 0, its -trace_stat CSV's last row shows SuccessfulCall(C) ==
calls placed and FailedCall(C) == 0, Retransmissions(C) of UAC + UAS < 0.1 % of the calls,
and the calls took at most 10 % (+1 s) longer than nominal (the rate was really sustained).

How the rate is searched: single short probe runs climb the ladder from --start to the first
failure; then, from two steps below it, each step is run twice for --seconds, climbing until
a step fails (or descending until one passes). "Max" is the last step passing both runs;
when one run of the next step passed too, the limit is reported as a range (VM jitter).
Every run gets a fresh UAS and fresh ports; each server is checked with one call first.

Run: .venv/bin/python bench/proxy.py [--quick] [--scenario S] [--target T] [--json FILE]
(bench/README.md). Needs sipp and kamailio (installed with apt-get when root).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HOST = "127.0.0.1"
BUFF = 1048576  # UDP buffers of sipp and Kamailio (BENCH-NOTES.md)
LADDER = [25, 50, 100, 200, 300, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 3500, 4000,
          5000, 6000, 7000, 8000, 9000, 10000, 12000, 15000, 20000]
MAX_RETRANS = 0.001  # retransmissions per call
SCENARIOS = ("direct", "stateless", "stateful", "stateful-lua")
GEOSIP_ROUTER = {"stateless": "forward", "stateful": "relay"}
LUA_SCRIPT = HERE / "lua" / "proxy.lua"  # stateful-lua: the same KEMI script on both
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
NOT_ROUTING = "not routing yet (smoke call failed)"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- child processes -----------------------------------------------------------------------

class Children:
    """Every process the benchmark starts, each in its own process group, killed on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], logfile: Path, env: dict | None = None) -> subprocess.Popen:
        with open(logfile, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=REPO)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        """SIGTERM to the process itself (Kamailio's main stops its children), then SIGKILL
        to whatever is left of its process group."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc, grace=2.0)


def free_udp_ports(count: int) -> list[int]:
    """Distinct free ports: fresh ones for every run, so that a proxy still retransmitting
    the INVITEs of a failed run cannot feed stale calls to the next run's UAS."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def wait_bound(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> bool:
    """Wait until 127.0.0.1:port is bound (/proc/net/udp) while proc lives."""
    want, end = f" 0100007F:{port:04X} ", time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if want in Path("/proc/net/udp").read_text():
            return True
        time.sleep(0.05)
    return False


def cpu_ticks(root: int) -> int:
    """utime+stime+cutime+cstime of root and of every live descendant, in clock ticks (a
    reaped child's time is already in its parent's cutime/cstime)."""
    ticks, kids = {}, {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{name}/stat").read_text()
            fields = raw[raw.rindex(")") + 2:].split()  # fields[0] is stat field 3 (state)
            ticks[int(name)] = sum(int(f) for f in fields[11:15])
            kids.setdefault(int(fields[1]), []).append(int(name))
    todo, total = [root], 0
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo += kids.get(pid, [])
    return total


# --- sipp ----------------------------------------------------------------------------------

@dataclass
class Run:
    rate: int
    seconds: float
    calls: int
    ok: int = 0
    failed: int = 0
    retrans: int = 0  # UAC + UAS
    elapsed: float = 0.0  # seconds from sipp's first call to its exit
    exit_code: int | None = None
    cpu_s: float | None = None  # server CPU over the UAC run
    load: float = 0.0  # 1-minute load average after the run: others competing for the CPUs?
    note: str = ""  # why the run failed; empty when it passed

    @property
    def passed(self) -> bool:
        return not self.note


def read_sipp_stats(path: Path) -> dict | None:
    """Last row of a sipp -trace_stat CSV (cumulative counters)."""
    rows = list(csv.reader(path.open(), delimiter=";")) if path.exists() else []
    if len(rows) < 2:
        return None
    row = dict(zip(rows[0], rows[-1]))
    epoch = lambda key: float(row[key].split("\t")[-1])  # noqa: E731
    return {"ok": int(row["SuccessfulCall(C)"]), "failed": int(row["FailedCall(C)"]),
            "retrans": int(row["Retransmissions(C)"]),
            "elapsed": epoch("CurrentTime") - epoch("StartTime")}


def sipp_argv(role: str, port: int, calls: int, limit: float, stf: Path) -> list[str]:
    return ["timeout", "-k", "5", str(int(limit) + 5), "sipp", "-sf", str(HERE / "sipp" / f"{role}.xml"),
            "-i", HOST, "-p", str(port), "-m", str(calls), "-buff_size", str(BUFF),
            "-timeout", f"{int(limit)}s", "-nostdin", "-trace_stat", "-stf", str(stf), "-fd", "3600"]


def judge(run: Run, uac: dict | None, uas: dict | None) -> Run:
    if uac is None:
        run.note = f"no sipp stats (exit {run.exit_code})"
        return run
    run.ok, run.failed, run.elapsed = uac["ok"], uac["failed"], uac["elapsed"]
    run.retrans = uac["retrans"] + (uas["retrans"] if uas else 0)
    if run.exit_code != 0 or run.failed or run.ok != run.calls:
        run.note = f"exit {run.exit_code}, {run.ok}/{run.calls} ok, {run.failed} failed in {run.elapsed:.1f} s"
    elif run.retrans >= MAX_RETRANS * run.calls:
        run.note = f"{run.retrans} retransmissions"
    elif run.elapsed > run.seconds * 1.1 + 1:
        run.note = f"rate not sustained ({run.elapsed:.1f} s for {run.seconds:g} s of calls)"
    return run


class Bench:
    """Runs sipp loads; owns the temp folder, the ports and the children."""

    def __init__(self, args: argparse.Namespace, tmp: Path, children: Children) -> None:
        self.args, self.tmp, self.children = args, tmp, children
        self.deadline = time.monotonic() + args.budget
        self.count = 0

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def run(self, rate: int, seconds: float, proxy_port: int | None, server_pid: int | None) -> Run:
        """One UAC run of rate x seconds calls against a fresh UAS, via the proxy if any."""
        self.count += 1
        uas_port, uac_port = free_udp_ports(2)
        calls, limit = max(1, round(rate * seconds)), seconds * 1.5 + 10
        run, base = Run(rate, seconds, calls), self.tmp / f"run{self.count}"
        uas = self.children.start(sipp_argv("uas", uas_port, calls, limit + 5, Path(f"{base}-uas.csv")),
                                  Path(f"{base}-uas.log"))
        try:
            if not wait_bound(uas_port, uas):
                run.note = "sipp UAS did not start"
                return run
            uac_argv = sipp_argv("uac", uac_port, calls, limit, Path(f"{base}-uac.csv"))
            uac_argv += ["-r", str(rate), "-l", str(min(15000, max(100, rate * 3))), "-recv_timeout", "5000",
                         "-trace_err", "-error_file", f"{base}-uac-errors.log"]
            if self.args.sipp_transport == "un":  # a socket per call: many phones
                uac_argv += ["-t", "un", "-max_socket", str(min(15000, max(200, rate * 4)))]
            if proxy_port:
                uac_argv += ["-rsa", f"{HOST}:{proxy_port}"]
            uac_argv.append(f"{HOST}:{uas_port}")  # Request-URI sip:service@UAS
            ticks0 = cpu_ticks(server_pid) if server_pid else 0
            uac = self.children.start(uac_argv, Path(f"{base}-uac.log"))
            run.exit_code = uac.wait()
            self.children.stop(uac)
            if server_pid:
                run.cpu_s = (cpu_ticks(server_pid) - ticks0) / os.sysconf("SC_CLK_TCK")
            with contextlib.suppress(subprocess.TimeoutExpired):
                uas.wait(5)  # -m calls: it exits by itself once every call is over
        finally:
            self.children.stop(uas, grace=1.0)
        run.load = os.getloadavg()[0]
        judge(run, read_sipp_stats(Path(f"{base}-uac.csv")), read_sipp_stats(Path(f"{base}-uas.csv")))
        if not run.passed:
            time.sleep(3)  # let an overloaded proxy drain before the next run
        return run


# --- servers under test --------------------------------------------------------------------

def start_kamailio(bench: Bench, mode: str, port: int) -> subprocess.Popen:
    rundir = bench.tmp / f"kamailio-{mode}-run"
    rundir.mkdir()
    argv = [shutil.which("kamailio", path=SBIN_PATH) or "kamailio",
            "-f", str(HERE / "kamailio" / f"{mode}.cfg"), "-A", f"BENCH_PORT={port}",
            "-A", f'BENCH_LUA="{LUA_SCRIPT}"',
            "-DD", "-x", "tlsf", "-m", "512", "-M", "16",
            "-P", str(rundir / "kamailio.pid"), "-Y", str(rundir), "-w", str(rundir)]
    return bench.children.start(argv, bench.tmp / f"kamailio-{mode}.log")


def start_geosip(bench: Bench, mode: str, port: int) -> subprocess.Popen:
    data = bench.tmp / f"geosip-{mode}"
    argv = [bench.args.python, "-c", "import sys; from geosip.cli.main import main; sys.exit(main())",
            "run", "-l", f"udp:{HOST}:{port}",
            *(["-c", str(LUA_SCRIPT)] if mode == "stateful-lua" else ["--router", GEOSIP_ROUTER[mode]]),
            "--data-dir", str(data), "--log-level", "warning",
            *(["--workers", str(bench.args.workers)] if bench.args.workers > 1 else [])]
    return bench.children.start(argv, bench.tmp / f"geosip-{mode}.log", env=dict(os.environ, PYTHONUNBUFFERED="1"))


def python_info(python: str) -> str:
    """Which interpreter runs geosip (path given, where it resolves, version, build); exits
    when it cannot import geosip and gevent. geosip runs from the repo root, so an interpreter
    without geosip installed still runs this checkout's code (its dependencies are needed)."""
    code = ("import os, sys, platform as p, gevent, geosip.cli.main; print(os.path.realpath(sys.executable), "
            "f'({p.python_implementation()} {p.python_version()}, {p.python_build()[1]}, {p.python_compiler()})')")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    except OSError as exc:
        sys.exit(f"bench/proxy.py: --python {python}: {exc}")
    if out.returncode != 0:
        sys.exit(f"bench/proxy.py: --python {python} cannot import geosip (run `make venv`, or give an "
                 f"interpreter with geosip installed): {out.stderr.strip().splitlines()[-1:]}")
    return f"{python} -> {out.stdout.strip()}"


# --- rate search ---------------------------------------------------------------------------

def search(bench: Bench, label: str, proxy_port: int | None, server_pid: int | None) -> dict:
    """Probe up the ladder, then confirm each step twice; see the module docstring."""
    args = bench.args
    ladder = [r for r in LADDER if r <= args.max_rate] or [args.max_rate]
    first = next((i for i, r in enumerate(ladder) if r >= args.start), len(ladder) - 1)
    runs: list[dict] = []

    def step(rate: int, seconds: float, probe: bool) -> Run:
        run = bench.run(rate, seconds, proxy_port, server_pid)
        cpu = f", cpu {run.cpu_s:.2f} s" if run.cpu_s is not None else ""
        log(f"  [{label}] {'probe' if probe else 'run'} {rate}/s x {seconds:g} s: {run.ok}/{run.calls} ok, "
            f"{run.retrans} retrans{cpu} -> {'pass' if run.passed else 'FAIL: ' + run.note}")
        runs.append(dict(asdict(run), probe=probe, passed=run.passed))
        return run

    first_fail = len(ladder)
    for i in range(first, len(ladder)):
        if bench.out_of_time() or not step(ladder[i], args.probe_seconds, True).passed:
            first_fail = i
            break
    best: tuple[int, list[Run]] | None = None
    passes: dict[int, int] = {}
    i, climbing = max(first, first_fail - 2), True  # below --start only when descending
    while 0 <= i < len(ladder) and not bench.out_of_time():
        pair = [step(ladder[i], args.seconds, False) for _ in range(2)]
        passes[ladder[i]] = sum(r.passed for r in pair)
        if passes[ladder[i]] == 2:
            best = (ladder[i], pair)
            if not climbing:
                break
            i += 1
        elif best is not None:
            break
        else:
            climbing, i = False, i - 1
    result = {"label": label, "max": None, "upper": None, "cpu_s_per_1000": None,
              "top_of_ladder": False, "budget_hit": bench.out_of_time(), "runs": runs}
    if best:
        rate, pair = best
        above = next((r for r in ladder if r > rate), None)
        result.update(max=rate, upper=above if passes.get(above) == 1 else None,
                      top_of_ladder=above is None)
        if server_pid:
            result["cpu_s_per_1000"] = 1000 * sum(r.cpu_s for r in pair) / sum(r.calls for r in pair)
    return result


def bench_server(bench: Bench, target: str, mode: str) -> dict:
    """Start one server, smoke-test it with a single call, search its limit, stop it."""
    label, (port,) = f"{target} {mode}", free_udp_ports(1)
    start = start_kamailio if target == "kamailio" else start_geosip
    proc = start(bench, mode, port)
    try:
        smoke = bench.run(10, 0.1, port, proc.pid) if wait_bound(port, proc) else None
        if not (smoke and smoke.passed):
            why = smoke.note if smoke else f"server did not start (exit {proc.poll()})"
            tail = (bench.tmp / f"{target}-{mode}.log").read_text(errors="replace").strip().splitlines()[-5:]
            log(f"  [{label}] smoke call failed: {why}; server log ends:\n    " + "\n    ".join(tail))
            return {"label": label, "error": NOT_ROUTING if target == "geosip" else "smoke call failed"}
        return search(bench, label, port, proc.pid)
    finally:
        bench.children.stop(proc)


# --- report --------------------------------------------------------------------------------

def rate_cell(res: dict | None) -> str:
    if res is None:
        return "-"
    if res.get("error"):
        return res["error"]
    if res["max"] is None:
        return "fails at lowest rate"
    cell = f"{res['max']:,}" + (f"-{res['upper']:,}" if res["upper"] else "")
    return cell + ("+" if res["top_of_ladder"] else "") + (" (budget hit)" if res["budget_hit"] else "")


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def cpu_at(res: dict | None, rate: int | None) -> float | None:
    """CPU s per 1,000 calls over the passing runs (probes included) at this rate."""
    runs = [r for r in (res or {}).get("runs", []) if r["rate"] == rate and r["passed"]]
    return 1000 * sum(r["cpu_s"] for r in runs) / sum(r["calls"] for r in runs) if runs else None


def table(results: dict, python: str) -> str:
    head = ["scenario", "geosip max calls/s", "Kamailio max calls/s", "geosip/Kamailio",
            "geosip CPU s/1000 calls", "Kamailio CPU s/1000 calls", "CPU geosip/Kamailio",
            "CPU ratio, same rate"]
    rows = []
    for mode in ("stateless", "stateful", "stateful-lua"):
        g, k = results.get(f"geosip {mode}"), results.get(f"kamailio {mode}")
        if g is None and k is None:
            continue
        gmax, kmax = (r.get("max") if r else None for r in (g, k))
        gcpu, kcpu = (r.get("cpu_s_per_1000") if r else None for r in (g, k))
        rows.append([mode, rate_cell(g), rate_cell(k), ratio(gmax, kmax),
                     f"{gcpu:.3f}" if gcpu else "-", f"{kcpu:.3f}" if kcpu else "-", ratio(gcpu, kcpu),
                     ratio(gcpu, cpu_at(k, gmax))])
    widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head] + rows]
    if "direct" in results:
        lines.append(f"direct sipp -> sipp (no proxy, the load generator's limit): "
                     f"{rate_cell(results['direct'])} calls/s")
    lines.append(f"geosip interpreter: {python}")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------

def ensure_tools(need_kamailio: bool) -> None:
    """sipp (and kamailio) from Debian, installed here when missing and running as root."""
    tools = {"sipp": "sip-tester"} | ({"kamailio": "kamailio"} if need_kamailio else {})
    missing = [pkg for exe, pkg in tools.items() if not shutil.which(exe, path=SBIN_PATH)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"bench/proxy.py: missing {' '.join(missing)}; as root run: "
                 f"apt-get install -y --no-install-recommends {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"installing {' '.join(missing)} with apt-get")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env)


def tool_version(exe: str) -> str:
    path = shutil.which(exe, path=SBIN_PATH)
    out = subprocess.run([path, "-v"], capture_output=True, text=True).stdout.split("\n") if path else []
    return next((line.strip() for line in out if line.strip()), "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=SCENARIOS, help="run only this one (default: all)")
    p.add_argument("--target", choices=("geosip", "kamailio", "both"), default="both")
    p.add_argument("--seconds", type=float, default=10, help="length of each confirm run (default 10)")
    p.add_argument("--probe-seconds", type=float, default=3, help="length of each probe run (default 3)")
    p.add_argument("--quick", action="store_true", help="smoke version: 3 s runs, 1.5 s probes")
    p.add_argument("--start", type=int, default=100, help="lowest rate tried, calls/s (default 100)")
    p.add_argument("--max-rate", type=int, default=LADDER[-1], help="highest rate tried")
    p.add_argument("--budget", type=float, default=1200, help="stop searching after this many seconds")
    p.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                   help="interpreter that runs geosip (default: the venv's)")
    p.add_argument("--workers", type=int, default=1,
                   help="geosip worker processes (geosip run --workers; Kamailio runs 2 children)")
    p.add_argument("--sipp-transport", choices=("u1", "un"), default="u1",
                   help="the caller's sockets: u1 one for all calls, un one per call (needed "
                   "for geosip's workers to share the load: the kernel spreads peers by address)")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--logs", type=Path, help="keep sipp and server logs in this folder")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.probe_seconds = 3, 1.5
    if os.sep in args.python:  # children run from the repo root
        args.python = os.path.abspath(args.python)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [args.scenario] if args.scenario else list(SCENARIOS)
    targets = ["geosip", "kamailio"] if args.target == "both" else [args.target]
    proxied = [s for s in scenarios if s != "direct"]
    ensure_tools(need_kamailio="kamailio" in targets and bool(proxied))
    python = python_info(args.python) if "geosip" in targets and proxied else "(not used)"
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {os.getloadavg()[0]:.2f} before starting: other processes "
            "compete for the CPUs and will lower the rates (CPU per call suffers less)")
    if int(Path("/proc/sys/net/core/rmem_max").read_text()) < BUFF:
        log(f"warning: net.core.rmem_max < {BUFF}: UDP receive buffers will be smaller than 1 MB")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through the finally below
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    children, results, status = Children(), {}, 0
    with tempfile.TemporaryDirectory(prefix="geosip-bench-") as tmp:
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
        bench = Bench(args, args.logs or Path(tmp), children)
        try:
            for scenario in scenarios:
                if scenario == "direct":
                    log("direct sipp -> sipp")
                    results["direct"] = search(bench, "direct", None, None)
                    continue
                for target in targets:
                    log(f"{target} {scenario}")
                    results[f"{target} {scenario}"] = bench_server(bench, target, scenario)
        except KeyboardInterrupt:
            log("interrupted: the table shows what finished")
            status = 130
        finally:
            children.stop_all()
    print(table(results, python))
    if args.json:
        doc = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "python": python,
               "cpus": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()},
               "versions": {exe: tool_version(exe) for exe in ("sipp", "kamailio")}, "results": results}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
