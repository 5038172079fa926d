"""One dialog as a proxy tracks it (Kamailio's dlg_cell, dlg_hash.h): identity, the
two legs (CSeq, route set, contact, socket of caller and callee), state, times,
variables ($dlg_var) and profiles.

States are Kamailio's numbers (dlg.list shows them):
  1 unconfirmed  created by dlg_manage(), no reply yet
  2 early        a provisional with a To tag went upstream
  3 confirmed_na a 2xx went upstream, no ACK yet
  4 confirmed    the ACK came
  5 deleted      failed (final >= 300), ended by BYE, dlg_bye, RPC or timeout
"""

from __future__ import annotations

import time
from typing import Any

UNCONFIRMED, EARLY, CONFIRMED_NA, CONFIRMED, DELETED = 1, 2, 3, 4, 5
STATE_NAMES = {UNCONFIRMED: "unconfirmed", EARLY: "early", CONFIRMED_NA: "confirmed_na",
               CONFIRMED: "confirmed", DELETED: "deleted"}
CALLER, CALLEE = "caller", "callee"


class Leg:
    """What one side of the dialog told us: its tag, CSeq, route set (as it will be
    sent towards that side, nearest hop first), contact and our socket facing it."""

    __slots__ = ("tag", "cseq", "route_set", "contact", "socket")

    def __init__(self, tag: str = "", cseq: int = 0, route_set: list[str] | None = None,
                 contact: str = "", socket: str = "") -> None:
        self.tag = tag
        self.cseq = cseq
        self.route_set = route_set or []
        self.contact = contact
        self.socket = socket

    def to_rpc(self) -> dict[str, Any]:
        return {"tag": self.tag, "contact": self.contact, "cseq": str(self.cseq),
                "route_set": ",".join(self.route_set), "socket": self.socket}


class Dialog:
    __slots__ = ("h_entry", "h_id", "callid", "from_uri", "to_uri", "req_uri", "caller",
                 "callee", "state", "init_ts", "start_ts", "end_ts", "timeout", "timer",
                 "vars", "profiles", "sflags", "data", "__weakref__")

    def __init__(self, h_entry: int, h_id: int, callid: str, from_uri: str, to_uri: str,
                 req_uri: str, caller: Leg, timeout: int) -> None:
        self.h_entry = h_entry
        self.h_id = h_id
        self.callid = callid
        self.from_uri = from_uri
        self.to_uri = to_uri
        self.req_uri = req_uri
        self.caller = caller
        self.callee = Leg()
        self.state = UNCONFIRMED
        self.init_ts = time.time()
        self.start_ts = 0.0           # when confirmed (the 2xx)
        self.end_ts = 0.0
        self.timeout = timeout        # lifetime in seconds from confirmation
        self.timer: Any = None        # the gevent timer ending it
        self.vars: dict[str, str] = {}
        self.profiles: list[tuple[str, str]] = []  # (profile, value or "")
        self.sflags = 0
        self.data: dict[str, Any] = {}  # other modules' per-dialog state (acc's CDR)

    @property
    def key(self) -> tuple[int, int]:
        return (self.h_entry, self.h_id)

    @property
    def active(self) -> bool:
        return self.state != DELETED

    def is_downstream(self, from_tag: str | None) -> bool:
        """A request from the caller (RFC 3261 §12: its From tag is the caller's)."""
        return from_tag == self.caller.tag

    def expires_at(self) -> int:
        """Kamailio's `timeout` column: the absolute time the dialog expires (0: not
        confirmed yet)."""
        return int(self.start_ts + self.timeout) if self.start_ts else 0

    def to_rpc(self) -> dict[str, Any]:
        """dlg.list's entry, Kamailio's field names."""
        now = time.time()
        return {"h_entry": self.h_entry, "h_id": self.h_id, "call-id": self.callid,
                "from_uri": self.from_uri, "to_uri": self.to_uri, "state": self.state,
                "state_name": STATE_NAMES[self.state], "start_ts": int(self.start_ts),
                "init_ts": int(self.init_ts), "end_ts": int(self.end_ts),
                "timeout": self.expires_at(),
                "lifetime": self.timeout, "duration": int(now - self.start_ts)
                if self.start_ts and self.active else 0,
                "sflags": self.sflags, "req_uri": self.req_uri,
                "caller": self.caller.to_rpc(), "callee": self.callee.to_rpc(),
                "profiles": [{p: v} for p, v in self.profiles],
                "variables": [{k: v} for k, v in self.vars.items()]}
