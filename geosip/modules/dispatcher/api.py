"""What other modules use of dispatcher (STYLE.md item 4).

Call load (algorithm 10). By default dispatcher counts calls itself, by Call-ID
(calls.py: counted at selection, ended by ds_load_update/ds_load_unset, expired after
ds_hash_expire). A module that knows the active calls better (the dialog module) can
take over with `set_load_source(source)`: `source.load(duid)` returns the number of
active calls routed to the destination whose duid attribute (or URI, without one) is
`duid`; dispatcher then asks it at every alg 10 selection and tracks nothing itself.
`set_load_source(None)` goes back to dispatcher's own counting.
"""

from __future__ import annotations

from typing import Protocol

from .rpc import ds_list, ds_ping_active, ds_reload, ds_set_state
from .store import STORE


class LoadSource(Protocol):
    def load(self, duid: str) -> int: ...


def set_load_source(source: LoadSource | None) -> None:
    STORE.load_source = source


__all__ = ["LoadSource", "ds_list", "ds_ping_active", "ds_reload", "ds_set_state",
           "set_load_source"]
