"""Python routers for the integration tests, loaded by `geosip run --router
tests.integration.routers:NAME` (the process runs with /work/main on its path).

They stand in for the Lua scripts of a later issue: each is what a Kamailio script
does with append_branch() (parallel forking) or t_on_failure() (serial forking), with
the targets taken from test headers so one router serves any ports the test picked.
"""

from __future__ import annotations

import logging

from geosip.core.context import RequestContext
from geosip.core.router import ProxyRouter
from geosip.sip import Response, parse_address
from geosip.sip.grammar import split_commas

log = logging.getLogger("geosip.test.router")


def header_uris(ctx: RequestContext, name: str) -> list[str]:
    """The URIs of every `name: <sip:...>` value, in order (several fields or commas)."""
    uris: list[str] = []
    for field in ctx.msg.header_all(name):
        for value in split_commas(field):
            uris.append(str(parse_address(value).uri))
    return uris


class ForkRouter(ProxyRouter):
    """Parallel forking: an initial INVITE also goes to every `X-Fork` URI
    (Kamailio: append_branch() before t_relay())."""

    def request(self, ctx: RequestContext) -> None:
        msg = ctx.msg
        if msg.method == "INVITE" and msg.to_tag is None:
            for uri in header_uris(ctx, "X-Fork"):
                ctx.append_branch(uri)
        super().request(ctx)


# Best responses that send the call on to the next target (RFC 3261 §16.7 step 6: a
# local timeout counts as 408).
def _fails_over(status: int) -> bool:
    return status == 408 or 500 <= status < 600


def next_target(ctx: RequestContext, best: Response) -> None:
    """Failure handler: on a 5xx or 408, relay to the URI of `X-Next` (once)."""
    if not _fails_over(best.status):
        return
    targets = header_uris(ctx, "X-Next")
    if not targets:
        return
    log.info("failing over from %d to %s", best.status, targets[0])
    ctx.msg.uri = targets[0]
    ctx.relay()


class FailoverRouter(ProxyRouter):
    """Serial forking: an initial INVITE arms a failure handler that tries `X-Next`
    when the first target fails (Kamailio: t_on_failure() and t_relay() in it)."""

    def request(self, ctx: RequestContext) -> None:
        msg = ctx.msg
        if msg.method == "INVITE" and msg.to_tag is None:
            ctx.failure_handler = next_target
        super().request(ctx)
