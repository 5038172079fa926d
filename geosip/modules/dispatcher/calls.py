"""Call load for algorithm 10 (Kamailio's dispatcher call tracking, ds_ht.c): the
active calls per destination duid, counted by Call-ID without a dialog module.

A call is counted from the ds_select_* that picked its destination (INVITE only);
ds_next_dst moves it to the next destination; the script ends it with
ds_load_update() on BYE or CANCEL (and confirms it on a 2xx to the INVITE) or with
ds_load_unset() when the INVITE failed, as in Kamailio's README §4.13-4.14. A call
never confirmed is forgotten after ds_hash_initexpire seconds, a confirmed one after
ds_hash_expire (a BYE that never came).

Another source of counts (the dialog module's active dialogs) can replace this one:
api.set_load_source(); alg 10 then asks it and nothing is tracked here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Call:
    duid: str
    setid: int
    confirmed: bool
    expires: float


class CallLoad:
    def __init__(self, expire: float = 7200, initexpire: float = 7200) -> None:
        self.expire = expire
        self.initexpire = initexpire
        self.calls: dict[str, _Call] = {}
        self.counts: dict[str, int] = {}

    def load(self, duid: str) -> int:
        return self.counts.get(duid, 0)

    def add(self, callid: str, setid: int, duid: str, now: float | None = None) -> None:
        """Count `callid` on `duid` (moving it there if it was counted elsewhere)."""
        self.remove(callid)
        now = time.monotonic() if now is None else now
        self.calls[callid] = _Call(duid, setid, False, now + self.initexpire)
        self.counts[duid] = self.counts.get(duid, 0) + 1

    def confirm(self, callid: str, now: float | None = None) -> bool:
        call = self.calls.get(callid)
        if call is None:
            return False
        now = time.monotonic() if now is None else now
        call.confirmed, call.expires = True, now + self.expire
        return True

    def remove(self, callid: str) -> bool:
        call = self.calls.pop(callid, None)
        if call is None:
            return False
        left = self.counts.get(call.duid, 0) - 1
        if left > 0:
            self.counts[call.duid] = left
        else:
            self.counts.pop(call.duid, None)
        return True

    def sweep(self, now: float | None = None) -> int:
        """Forget expired calls; how many."""
        now = time.monotonic() if now is None else now
        gone = [cid for cid, call in self.calls.items() if call.expires <= now]
        for callid in gone:
            self.remove(callid)
        return len(gone)


__all__ = ["CallLoad"]
