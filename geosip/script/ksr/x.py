"""KSR.x: control of the route run. KSR.x.exit() is implemented in Lua by the engine
(it unwinds the route like Kamailio's exit); KSR.x.drop() also drops the message."""

from __future__ import annotations

from geosip.core.context import RequestContext

from ..exports import ModuleExports, ksr


@ksr("drop", returns="does not return: the route ends and the message is dropped")
def drop(ctx: RequestContext) -> int:
    """Mark the message dropped; the Lua wrapper then ends the route (like exit)."""
    ctx.script.dropped = True
    return 1


EXPORTS = ModuleExports(name="x", ksr=(drop,), doc="Route control (KSR.x).")
