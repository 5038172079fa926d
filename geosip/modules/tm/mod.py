"""tm's exports (STYLE.md item 4): KSR.tm, the functions of relay.py (create, match,
relay, answer, timers), routes.py (failure/reply/branch routes), status.py (branch
results, dropped replies, serial forking) and local.py (t_uac_send). The transaction
machinery itself is geosip.tm; its parameters (fr_timer, fr_inv_timer, wt_timer) come
from the configuration's `tm` table (TmConfig)."""

from __future__ import annotations

from geosip.script.exports import ModuleExports

from . import local, relay, routes, status

EXPORTS = ModuleExports(
    name="tm",
    ksr=(*relay.FUNCTIONS, *routes.FUNCTIONS, *status.FUNCTIONS, *local.FUNCTIONS),
    doc="Stateful processing: transactions, relaying, failure/reply/branch routes.",
)
