"""KSR.tm: what the transaction's branches answered, dropping replies, and serial
forking by q-value (tm README §2, §4.28-4.42).

"The branch" of a failure or reply route is the one whose response the route is
looking at (ctx.script.reply): in a failure route the response chosen as best (a
branch's real final, or the local 408/503 geosip made for it), in a reply route the
received response (it carries the branch's Via). A branch "timed out" when its final
is geosip's local 408: no final arrived within fr_timer, or none within fr_inv_timer
after a provisional.
"""

from __future__ import annotations

import logging
import re
from typing import cast

from geosip.core.context import RequestContext
from geosip.script.exports import ksr
from geosip.sip import Response
from geosip.tm.branch import Branch

from . import api

log = logging.getLogger("geosip.tm")


def _received(branch: Branch, response: Response) -> bool:
    """A response that came from the network (it carries the branch's own Via) rather
    than one geosip made for the branch (timeout, transport failure)."""
    vias = response.values("via")
    return bool(vias) and branch.branch_id != "" and branch.branch_id in vias[0]


def _timed_out(branch: Branch) -> bool:
    final = branch.final
    return final is not None and final.status == 408 and not _received(branch, final)


def _branches(ctx: RequestContext) -> list[Branch]:
    cell = ctx.cell
    return list(cell.branches) if cell is not None else []


def _current(ctx: RequestContext) -> Branch | None:
    """The branch whose response the running route looks at."""
    reply = ctx.script.reply
    if reply is None:
        return None
    branches = _branches(ctx)
    for branch in branches:
        if branch.final is reply:
            return branch
    top = reply.values("via")[:1]
    for branch in branches:
        if branch.branch_id and top and branch.branch_id in top[0]:
            return branch
    # best_response() copies a 401/407 to merge challenges: the first one of its status
    return next((b for b in branches if b.final is not None and
                 b.final.status == reply.status), None)


@ksr("t_branch_timeout", returns="1 when the branch timed out, -1 otherwise")
def t_branch_timeout(ctx: RequestContext) -> bool:
    """In a failure route: the failed branch got no final answer in time."""
    branch = _current(ctx)
    return branch is not None and _timed_out(branch)


@ksr("t_branch_replied", returns="1 when the branch had answered before, -1 otherwise")
def t_branch_replied(ctx: RequestContext) -> bool:
    """In a failure route: the failed branch had sent a provisional reply."""
    branch = _current(ctx)
    return branch is not None and branch.provisional


@ksr("t_any_timeout", returns="1 when a branch timed out, -1 otherwise")
def t_any_timeout(ctx: RequestContext) -> bool:
    return any(_timed_out(b) for b in _branches(ctx))


@ksr("t_any_replied", returns="1 when a branch answered, -1 otherwise")
def t_any_replied(ctx: RequestContext) -> bool:
    """Some branch received a reply (the one the route looks at does not count)."""
    current = ctx.script.reply
    return any(b.provisional or (b.final is not None and b.final is not current
                                 and _received(b, b.final)) for b in _branches(ctx))


@ksr("t_grep_status", "i", returns="1 when a branch's final has that status, -1 otherwise")
def t_grep_status(ctx: RequestContext, status: int) -> bool:
    return any(b.final is not None and b.final.status == status for b in _branches(ctx))


@ksr("t_is_canceled", returns="1 when the caller cancelled the transaction, -1 otherwise")
def t_is_canceled(ctx: RequestContext) -> bool:
    return ctx.cell is not None and ctx.cell.cancelled


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


@ksr("t_check_status", "s", returns="1 when the status matches, -1 otherwise (or no "
                                    "status, or a bad expression)")
def t_check_status(ctx: RequestContext, regex: str) -> bool:
    """Match a regular expression against the status: in a reply route the received
    reply's, in a failure route the chosen best one's, elsewhere the last reply the
    script sent. Searched, not anchored, like Kamailio's regexec ("^4" for any 4xx)."""
    reply = ctx.script.reply
    status = reply.status if reply is not None else api.last_status(ctx)
    if status is None:
        return False
    if regex not in _PATTERNS:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            log.error("t_check_status: bad expression %r: %s", regex, exc)
            pattern = None
        if len(_PATTERNS) >= 256:  # scripts use a handful; bound what a loop could add
            _PATTERNS.clear()
        _PATTERNS[regex] = pattern
    found = _PATTERNS[regex]
    return found is not None and found.search(str(status)) is not None


@ksr("t_drop_replies", "s", returns="1, -1 without a transaction or for a bad mode")
def t_drop_replies(ctx: RequestContext, mode: str) -> bool:
    """In a failure route, before relaying again: the replies received so far no longer
    compete for the best response. mode "a" (or "") all of them, "l" those of the last
    relay's branches, "n" none. As in Kamailio it only matters when a new branch is
    started or the route answers; if no other reply is left, they count again."""
    cell = ctx.cell
    if cell is None or mode not in ("", "a", "l", "n"):
        return False
    if mode == "n":
        return True
    start = cast(int, ctx.script.extra.get("tm:batch", 0)) if mode == "l" else 0
    dropped = cell.dropped if cell.dropped is not None else set()
    dropped.update(range(start, len(cell.branches)))
    cell.dropped = dropped
    return True


@ksr("t_drop_replies_all", returns="as t_drop_replies")
def t_drop_replies_all(ctx: RequestContext) -> bool:
    """t_drop_replies("a")."""
    return t_drop_replies.fn(ctx, "a")  # type: ignore[no-any-return]


@ksr("t_load_contacts", returns="1 (also when there is nothing to do)")
def t_load_contacts(ctx: RequestContext) -> int:
    """Take the destination set (the Request-URI and the appended branches) out of the
    request, ordered by q-value for t_next_contacts. With no appended branch there is
    nothing to order: the request is left as it is. Contacts without a q-value go last.
    q-values: KSR.corex/pv record them with tm's api.set_q."""
    if not ctx.branches:
        return 1
    contacts = [(ctx.msg.uri_text, ctx.dst_uri, api.q_of(ctx, None))]
    contacts += [(uri, dst, api.q_of(ctx, uri)) for uri, dst in ctx.branches]
    contacts.sort(key=lambda c: -c[2])  # stable: equal q keeps the order they came in
    groups: list[list[tuple[str, str | None]]] = []
    last_q = None
    for uri, dst, q in contacts:
        if q != last_q:
            groups.append([])
            last_q = q
        groups[-1].append((uri, dst))
    ctx.script.extra["tm:contacts"] = groups
    ctx.clear_branches()
    return 1


@ksr("t_next_contacts", returns="1 a destination set was made, -2 no contact left, "
                                "-1 on error")
def t_next_contacts(ctx: RequestContext) -> int:
    """Make the next destination set from the contacts t_load_contacts kept: those of
    the highest q-value left; the first becomes the Request-URI (and $du), the others
    appended branches (tried in parallel by the next t_relay)."""
    groups = cast("list[list[tuple[str, str | None]]]",
                  ctx.script.extra.get("tm:contacts") or [])
    if not groups:
        return -2
    group = groups.pop(0)
    (uri, dst), rest = group[0], group[1:]
    try:
        ctx.msg.uri = uri
    except ValueError as exc:
        log.error("t_next_contacts: bad contact %r: %s", uri, exc)
        return -1
    ctx.dst_uri = dst
    ctx.clear_branches()
    for other, other_dst in rest:
        ctx.append_branch(other, other_dst)
    return 1


FUNCTIONS = (t_branch_timeout, t_branch_replied, t_any_timeout, t_any_replied,
             t_grep_status, t_is_canceled, t_check_status, t_drop_replies,
             t_drop_replies_all, t_load_contacts, t_next_contacts)
