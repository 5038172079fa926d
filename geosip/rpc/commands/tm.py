"""tm.stats and tm.list (Kamailio's tm RPC commands; tm_rpc_stats's struct: current,
waiting, total, total_local, 6xx..2xx)."""

from __future__ import annotations

from typing import Any

from geosip.script.exports import rpc


@rpc("tm.stats")
def stats(ctx: Any) -> dict[str, int]:
    """Transaction counts: live (current), finished but absorbing retransmissions
    (waiting), created as server (total) and client (total_local), and completions by
    final-reply class."""
    tm, counters = ctx.core.tm, ctx.stats
    current = len(tm.servers)
    waiting = sum(1 for cell in list(tm.servers.values()) if cell.final_sent)
    out = {"current": current, "waiting": waiting,
           "total": int(counters.get("tm:UAS_transactions")),
           "total_local": int(counters.get("tm:UAC_transactions"))}
    for n in (6, 5, 4, 3, 2):
        out[f"{n}xx"] = int(counters.get(f"tm:{n}xx_transactions"))
    return out


@rpc("tm.list")
def list_transactions(ctx: Any) -> list[dict[str, Any]]:
    """The live server transactions: index, label, method, From, To, Call-ID, CSeq,
    branches and whether the final reply went out."""
    out = []
    for cell in list(ctx.core.tm.servers.values()):
        request = cell.request
        out.append({"tindex": cell.id_index, "tlabel": cell.id_label,
                    "method": request.method, "from": request.header("from") or "",
                    "to": request.header("to") or "", "callid": request.header("call-id") or "",
                    "cseq": request.header("cseq") or "", "uas_request": "yes",
                    "outgoings": len(cell.branches),
                    "final_sent": "yes" if cell.final_sent else "no"})
    return out


COMMANDS = (stats, list_transactions)
