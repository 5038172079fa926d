"""How `geosip run` starts the agent: one Child for geosip.cli.children's Supervisor
(restarted when it dies, stopped with geosip, killed with it by PDEATHSIG).

The settings go to the agent in a file of the data directory, mode 0600
(`snmp-agent.json`): the community and the v3 keys would be readable by every local
user in `ps` if they were arguments. No gevent here (children.py is imported only when there is an agent to start).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from .settings import SettingError, SnmpSettings, privilege_problem, with_listen

if TYPE_CHECKING:  # geosip.cli.children imports gevent: only inside geosip run
    from geosip.cli.children import Child

SETTINGS_FILE = "snmp-agent.json"


def effective(configured: SnmpSettings | None, listen: str | None) -> SnmpSettings | None:
    """The script's snmp table with `geosip run --snmp ADDR:PORT` on top; None: no agent.
    Raises SettingError (a ValueError) for a bad address or a port that needs root."""
    settings = with_listen(configured, listen) if listen else configured
    if settings is None or settings.listen is None:
        return None
    problem = privilege_problem(settings)
    if problem:
        raise SettingError(problem)
    return settings


def argv(settings: SnmpSettings, data_dir: str, rpc_target: str) -> list[str]:
    """Write the settings file and return the agent's command line."""
    path = os.path.abspath(os.path.join(data_dir, SETTINGS_FILE))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # an older file may have had other bits
        f.write(settings.to_json())
    return [sys.executable, "-m", "geosip.snmp", "--config", path,
            "--rpc", os.path.abspath(rpc_target)]


def agent_child(configured: SnmpSettings | None, listen: str | None, data_dir: str,
                rpc_socket: str | None) -> "Child | None":
    """The agent's Child for the Supervisor, or None when no agent is configured.
    `rpc_socket` None means the data dir's default control socket. Raises SettingError
    (a ValueError) with what to fix."""
    settings = effective(configured, listen)
    if settings is None:
        return None
    from geosip.cli.children import Child
    from geosip.rpc.address import default_socket
    return Child("snmp agent", argv(settings, data_dir, rpc_socket or default_socket(data_dir)))
