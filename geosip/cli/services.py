"""What `geosip run` serves beside SIP, in the only process or in worker 0 of several
(cli/workers.py): the control interface (geosip/rpc), the SNMP agent that reads it
(geosip.snmp, a child process) and the gateway processes (geosip.gateways, children
too, cli/children.py). The workers' parent runs none of them: it reaps its workers with
waitpid(-1), which would take the children's exit status too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from geosip.core.core import Core
    from geosip.core.router import Router
    from geosip.script.config import ScriptConfig

    from .run import RunOptions

Stop = Callable[[], None]


class ServiceError(Exception):
    """A service could not start; `code` is geosip run's exit code (2: the settings)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def start_services(core: "Core", router: "Router", config: "ScriptConfig",
                   options: "RunOptions", stopping: list[Stop]) -> None:
    """Start each service, appending its stop() to `stopping` as soon as it runs (so
    the caller stops what started when a later one fails). Raises ServiceError."""
    from geosip.rpc.server import ControlError, start_control

    socket_path = options.rpc_socket or config.rpc.socket
    modules: Any = getattr(getattr(router, "engine", None), "modules", ())
    try:
        control = start_control(
            core, router, modules, config.modules, socket_path=socket_path,
            data_dir=options.data_dir, http=options.rpc_http or config.rpc.http,
            auth=config.rpc.auth, allow=config.rpc.allow)
    except ControlError as e:
        raise ServiceError(str(e), 1) from None
    stopping.append(control.stop)

    from geosip.cli.children import Supervisor, gateway_children
    from geosip.rpc.commands.gateway import CHILD_PREFIX, GatewayReports
    from geosip.snmp.child import agent_child

    try:  # the agent reads the statistics over the control socket
        agent = agent_child(config.snmp, options.snmp, options.data_dir, socket_path)
    except ValueError as e:
        raise ServiceError(str(e), 2) from None
    # the gateways push their counters to the same socket (gateway.report)
    gateways = gateway_children(config.gateways, os.path.abspath(str(control.socket_path)))
    children = ([agent] if agent is not None else []) + gateways
    if children:
        supervisor = Supervisor(children)
        control.context.children = supervisor  # core.ps, gateway.list
        # gateway:<name>_up and, once reported, gateway:<name>_<counter>
        control.context.gateways = GatewayReports(
            core.stats, [c.name.removeprefix(CHILD_PREFIX) for c in gateways], supervisor)
        supervisor.start()
        # before the control interface: the children use it until they are gone (the
        # agent's polls, the gateways' last reports)
        stopping.insert(stopping.index(control.stop), supervisor.stop)
