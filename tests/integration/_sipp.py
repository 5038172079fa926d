"""sipp as a peer of the integration tests: run a scenario, read what it saw.

Every run is bounded three times over: `timeout` (coreutils) around the process, sipp's
own -timeout (it then exits cleanly and writes its logs) and -recv_timeout for any one
expected message (BENCH-NOTES.md). Each run writes into its own folder: the message
trace (-trace_msg), the statistics CSV (-trace_stat: SuccessfulCall, FailedCall...),
the unexpected-message log (-trace_err), the last screen, and stdout/stderr; `report()`
gathers them for an assertion message.

sipp exit codes: 0 every call succeeded, 1 at least one failed, 97 stopped by a
command, 99 ended without a call, 255/254 fatal (254: cannot bind); 124 is `timeout`.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "sipp"
BENCH = HERE.parents[1] / "bench" / "sipp"
SIPP = "/usr/bin/sipp"

# sipp's message trace: a dashed line with a timestamp opens each message, then a
# line saying "UDP message received [618] bytes :" or "TCP message sent (414 bytes):".
# With -lost, a note follows a message, with no line break before the next dashes:
# "UDP message lost (recv)." (sipp dropped the message above) or "UDP message voluntary
# lost (while sending)." (it did not send one, and did not log it either). Dashes
# without a timestamp open a copy of a message already traced ("Unexpected UDP message
# received:", "Dead call ... received a UDP message:").
_BLOCK = re.compile(r"-{20,}(?: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+))?\n")
_DIRECTION = re.compile(r"^(\w+) message (sent|received)\b.*\n\n", re.M)
_LOST_NOTES = re.compile(r"\n((?:\w+ message (?:\(retrans\) )?(?:voluntary )?lost "
                         r"\((?:recv|while sending)\)\.)+)\s*$")


@dataclass(frozen=True)
class SipMessage:
    """One message of a sipp trace, as sipp wrote it."""

    when: float          # seconds since the epoch
    transport: str       # UDP or TCP
    direction: str       # "sent" or "received"
    text: str
    lost: bool = False   # received, then dropped by sipp's -lost

    @property
    def start_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int | None:
        return int(self.start_line.split()[1]) if self.is_response else None

    @property
    def method(self) -> str:
        """The request's method, or the CSeq method of a response."""
        if self.is_response:
            return self.header("CSeq")[0].split()[-1]
        return self.start_line.split()[0]

    @property
    def uri(self) -> str:
        return self.start_line.split()[1]

    def header(self, name: str) -> list[str]:
        """The values of every `name` line of the head, in order (unsplit)."""
        head = self.text.split("\n\n", 1)[0]
        prefix = name.lower() + ":"
        return [line.split(":", 1)[1].strip() for line in head.split("\n")[1:]
                if line.lower().startswith(prefix)]

    def values(self, name: str) -> list[str]:
        """Every value of a list header (Via, Route...), split at commas: sipp writes
        [last_Via:] comma-joined, a proxy may add separate lines."""
        return [v.strip() for value in self.header(name) for v in value.split(",")]

    def vias(self) -> list[str]:
        return self.values("Via")

    def __str__(self) -> str:
        return f"{self.direction} over {self.transport}:\n{self.text}"


def parse_trace(text: str) -> list[SipMessage]:
    messages = []
    parts = _BLOCK.split(text)
    for stamp, body in zip(parts[1::2], parts[2::2]):
        match = _DIRECTION.match(body)
        if stamp is None or match is None:
            continue
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        sip = body[match.end():].replace("\r\n", "\n")
        notes = _LOST_NOTES.search(sip)
        if notes is not None:
            sip = sip[:notes.start()]
        lost = notes is not None and "lost (recv)" in notes.group(1)
        messages.append(SipMessage(when, match.group(1), match.group(2), sip.strip("\n"), lost))
    return messages


@dataclass
class SippResult:
    name: str
    returncode: int
    seconds: float
    folder: Path
    command: str = ""

    def _read(self, file: str) -> str:
        path = self.folder / file
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def stats(self) -> dict[str, str]:
        """The last row of the -trace_stat CSV (columns such as 'SuccessfulCall(C)')."""
        text = self._read("stat.csv")
        rows = list(csv.reader(text.splitlines(), delimiter=";"))
        if len(rows) < 2:
            return {}
        return dict(zip(rows[0], rows[-1]))

    def counter(self, name: str) -> int:
        """A cumulative counter of the CSV: successful, failed, ... (-1 if missing)."""
        value = self.stats.get(f"{name}(C)", "")
        return int(value) if value.isdigit() else -1

    @property
    def successful(self) -> int:
        return self.counter("SuccessfulCall")

    @property
    def failed(self) -> int:
        return self.counter("FailedCall")

    @property
    def messages(self) -> list[SipMessage]:
        return parse_trace(self._read("messages.log"))

    def received(self, method: str | None = None, status: int | None = None) -> list[SipMessage]:
        """Received messages: requests of `method`, or responses with `status` (and
        `method` in CSeq when both are given); all of them without either. Messages
        that -lost dropped are left out."""
        return self._select("received", method, status)

    def sent(self, method: str | None = None, status: int | None = None) -> list[SipMessage]:
        return self._select("sent", method, status)

    def finals(self) -> list[SipMessage]:
        """Final responses received (status 200 and up), in order."""
        return [m for m in self.received() if (m.status or 0) >= 200]

    def _select(self, direction: str, method: str | None, status: int | None) -> list[SipMessage]:
        found = []
        for m in self.messages:
            if m.direction != direction or m.lost:
                continue
            if status is not None:
                if m.status != status or (method is not None and m.method != method):
                    continue
            elif method is not None and (m.is_response or m.method != method):
                continue
            found.append(m)
        return found

    def report(self, trace_lines: int = 120) -> str:
        """What sipp said, for an assertion message: exit code, counters, errors, the
        last screen and the end of the message trace."""
        stats = self.stats
        counters = ", ".join(f"{k[:-3]}={v}" for k, v in stats.items()
                             if k.endswith("(C)") and v not in ("0", "") and ":" not in v)
        trace = self._read("messages.log").splitlines()[-trace_lines:]
        return "\n".join([
            f"==== sipp {self.name}: exit {self.returncode} after {self.seconds:.1f}s; "
            f"{counters or 'no statistics'}",
            f"---- command: {self.command}",
            "---- output:", self._read("output.log")[-3000:],
            "---- errors (unexpected messages):", self._read("errors.log")[-4000:],
            "---- screen:", self._read("screen.log")[-3000:],
            f"---- last {trace_lines} lines of the message trace:", *trace,
        ])


class Sipp:
    """One sipp process: `start()` in the background (a UAS), or `run()` to completion."""

    def __init__(self, name: str, scenario: Path, folder: Path, *, port: int,
                 remote: str | None = None, proxy: str | None = None, transport: str = "u1",
                 calls: int = 1, rate: int | None = None, keys: dict[str, str] | None = None,
                 recv_timeout: float = 10.0, wall: float = 30.0,
                 extra: list[str] | None = None) -> None:
        self.name = name
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.transport = transport
        self.wall = wall
        args = [
            SIPP, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
            "-t", transport, "-m", str(calls), "-nostdin",
            "-recv_timeout", f"{int(recv_timeout * 1000)}",
            # sipp's own deadline comes first, so it still writes its logs and stats.
            "-timeout", f"{max(int(wall) - 3, 1)}s", "-timeout_error",
            "-trace_msg", "-message_file", str(self.folder / "messages.log"),
            "-trace_stat", "-stf", str(self.folder / "stat.csv"), "-fd", "1",
            "-trace_err", "-error_file", str(self.folder / "errors.log"),
            "-trace_screen", "-screen_file", str(self.folder / "screen.log"),
        ]
        if rate is not None:
            args += ["-r", str(rate)]
        if proxy is not None:
            args += ["-rsa", proxy]
        for key, value in (keys or {}).items():
            args += ["-key", key, value]
        args += extra or []
        if remote is not None:
            args.append(remote)
        self.command = ["timeout", "-k", "2", str(wall), *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    def start(self) -> "Sipp":
        output = open(self.folder / "output.log", "wb")
        with output:
            self.proc = subprocess.Popen(self.command, cwd=self.folder, stdin=subprocess.DEVNULL,
                                         stdout=output, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self._started = time.monotonic()
        return self

    def wait_listening(self, timeout: float = 5.0) -> "Sipp":
        """Until sipp's socket is bound (read from /proc/net, so nothing is sent to it)."""
        proto = "udp" if self.transport.startswith("u") else "tcp"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_bound(proto, self.port):
                return self
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"sipp {self.name} is not listening on {proto} port {self.port}\n"
                             + self.result().report())

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for the end (at most `wall` seconds plus a margin); kill it past that."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout if timeout is not None else self.wall + 5)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.result()

    def run(self) -> SippResult:
        return self.start().wait()

    def result(self) -> SippResult:
        assert self.proc is not None
        code = self.proc.poll()
        seconds = time.monotonic() - self._started
        return SippResult(self.name, -1 if code is None else code, seconds, self.folder,
                          shlex.join(self.command))

    def kill(self) -> None:
        """End `timeout` and sipp: `timeout` runs in a process group of its own (its id
        is the group's), with sipp in it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)
            try:
                self.proc.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                continue


def is_bound(proto: str, port: int) -> bool:
    """True when some socket is bound to `port` on IPv4 (a TCP one listening)."""
    try:
        lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        local, state = fields[1], fields[3]
        if int(local.rsplit(":", 1)[1], 16) == port and (proto == "udp" or state == "0A"):
            return True
    return False
