"""CPU cost of one proxied call inside geosip, without sockets or sipp (issue 3).

Drives the real Core (parser, transaction layer, router) with a full call flow through
a transport stand-in that records what would be sent: INVITE -> 100/180/200 -> ACK ->
BYE -> 200, with Record-Route and the route set, as sipp's scenarios in bench/sipp do.
It prints CPU microseconds per call (geosip plus this harness's message building, which
is measured separately and subtracted) and, with --profile, where the time goes.
This is a profiling aid; the figures that count come from bench/proxy.py (sipp).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.callflow import INVITE, IN_DIALOG, answer, make_core, one_call  # noqa: E402


def harness_cost(calls: int) -> float:
    """CPU seconds this file spends building messages, without the core."""
    invite = INVITE.format(n=0).encode()
    start = time.process_time()
    for n in range(calls):
        for status in ("180 Ringing", "200 OK", "200 OK"):
            answer(invite, status, n)
        INVITE.format(n=n).encode()
        IN_DIALOG.format(method="ACK", n=n, cseq=1).encode()
        IN_DIALOG.format(method="BYE", n=n, cseq=2).encode()
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--profile", action="store_true", help="print a cProfile summary")
    ap.add_argument("--soak", action="store_true",
                    help="then wait out the wait timers and report live transactions and "
                         "memory (issue 3: back to 0 and flat after many calls)")
    args = ap.parse_args()
    core, out = make_core()
    for n in range(200):  # warm-up
        one_call(core, out, n)
    profiler = cProfile.Profile() if args.profile else None
    start = time.process_time()
    if profiler:
        profiler.enable()
    for n in range(1000, 1000 + args.calls):
        one_call(core, out, n)
    if profiler:
        profiler.disable()
    cpu = time.process_time() - start - harness_cost(args.calls)
    print(f"{args.calls} calls: {cpu / args.calls * 1e6:.0f} us CPU per call in geosip "
          f"({args.calls / cpu:,.0f} calls/s on one core); live transactions "
          f"{core.tm.live()} (still in their RFC wait states)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    if args.soak:
        soak(core)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def soak(core: object) -> None:
    """After the calls: memory now, then after every transaction has ended."""
    import gc

    import gevent

    tm = core.tm  # type: ignore[attr-defined]
    before = rss_kib()
    deadline = time.monotonic() + 60
    while tm.live() and time.monotonic() < deadline:
        gevent.sleep(0.5)
    gc.collect()
    print(f"after the calls: RSS {before / 1024:.1f} MiB; once every wait timer ran out: "
          f"live transactions {tm.live()}, scheduler entries {tm.scheduler.pending()}, "
          f"RSS {rss_kib() / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
