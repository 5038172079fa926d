"""`geosip run` as the proxy under test: its ports, and what it logged (for failure
messages and for the check that nothing raised out of a greenlet)."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import Server

HOST = "127.0.0.1"


@dataclass
class Proxy:
    server: "Server"
    port: int                                              # udp and tcp share it
    ports: dict[str, int] = field(default_factory=dict)    # tls, ws when listening
    notes: list[str] = field(default_factory=list)         # more for a failure message

    def addr(self, proto: str = "udp") -> str:
        return f"{HOST}:{self.ports.get(proto, self.port)}"

    def log(self) -> str:
        """Everything geosip said so far (its stderr)."""
        with contextlib.suppress(AssertionError):  # waits a moment for the last lines
            self.server.wait_for("\0", timeout=0.3)
        return "\n".join(self.server.lines)

    def assert_no_tracebacks(self) -> None:
        """Nothing raised out of geosip's handlers (core.py: "Nothing a peer sends raises
        out of here"): its log holds no traceback."""
        log = self.log()
        raised = tracebacks(log)
        assert not raised, (
            "exceptions escaped geosip's handlers (count, last exception, where):\n"
            + "\n".join(f"{n:5d}  {what}" for what, n in raised.most_common())
            + "\n\n==== end of geosip's log:\n" + log[-8000:])


_FRAME = re.compile(r'^\s+File "(?:[^"]*/)?([^"/]+)", line \d+, in (\S+)')


def tracebacks(log: str) -> Counter[str]:
    """The exceptions that ended the tracebacks in `log`, with the frame that raised,
    counted; of a chain ("During handling of the above exception...") the last one, the
    one that escaped."""
    found: Counter[str] = Counter()
    inside = pending = False
    raised = ""
    frames: list[str] = []
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            inside, frames = True, []
        elif inside:
            match = _FRAME.match(line)
            if match and "greenlet" not in match.group(1):
                frames.append(f"{match.group(1)}:{match.group(2)}")
            elif line and not line[0].isspace():  # the exception line ends it
                raised, inside, pending = line, False, True
        elif pending and (not line or line.startswith("During handling")):
            continue
        elif pending:
            found[_summary(raised, frames)] += 1
            pending = False
    if pending:
        found[_summary(raised, frames)] += 1
    return found


def _summary(raised: str, frames: list[str]) -> str:
    """ParseError: 400: invalid URI '...' (core.py:_route ... uri.py:parse_uri)"""
    where = f" ({frames[0]} ... {frames[-1]})" if frames else ""
    return re.sub(r"'[^'\s]{16,}'", "'...'", raised)[:160] + where  # values vary: group
