"""prosody (Debian's XMPP server) as a test peer: a throwaway server on loopback with one
virtual host, one XEP-0114 component and the users asked for (STACK-NOTES.md §5).

    server = Prosody(tmp_path / "prosody", c2s_port, component_port,
                     component="sip.localhost", secret="s3cret",
                     users={"juliet": "julietpw"})
    server.start()      # registers the users, starts prosody, waits for both ports
    server.stop()       # SIGTERM to its pid (rc -15 is expected: posix is disabled)

Everything lives in the scratch folder; nothing touches /etc/prosody or /var/lib.
`prosody --version` is not a flag (it starts the system server): never run it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"
HOST = "127.0.0.1"

_CONFIG = """\
-- Throwaway test server (tests/support/prosody.py): loopback only, no TLS, no s2s.
run_as_root = true
daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
log = {{ info = "{dir}/prosody.log"; error = "*console" }}
interfaces = {{ "{host}" }}
c2s_ports = {{ {c2s} }}
component_ports = {{ {component_port} }}
component_interfaces = {{ "{host}" }}
http_ports = {{}}; https_ports = {{}}; c2s_direct_tls_ports = {{}}; s2s_ports = {{}}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "register"; "offline" }}
modules_disabled = {{ "s2s"; "tls"; "posix" }}
plugin_paths = {{}}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false

VirtualHost "{domain}"

Component "{component}"
    component_secret = "{secret}"
"""


class Prosody:
    def __init__(self, folder: Path, c2s_port: int, component_port: int, *,
                 domain: str = "localhost", component: str = "sip.localhost",
                 secret: str = "s3cret", users: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.c2s_port = c2s_port
        self.component_port = component_port
        self.domain = domain
        self.component = component
        self.secret = secret
        self.users = dict(users or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = folder / "prosody.cfg.lua"
        for sub in ("data", "certs"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.config.write_text(_CONFIG.format(
            dir=folder, host=HOST, c2s=c2s_port, component_port=component_port,
            domain=domain, component=component, secret=secret))
        self._registered = False

    def start(self, timeout: float = 10.0) -> "Prosody":
        if not self._registered:
            for user, password in self.users.items():
                subprocess.run([PROSODYCTL, "--config", str(self.config), "register", user,
                                self.domain, password], check=True, capture_output=True,
                               timeout=30)
            self._registered = True
        self.output = open(self.folder / "console.log", "ab")
        self.proc = subprocess.Popen([PROSODY, "--config", str(self.config), "-F"],
                                     stdin=subprocess.DEVNULL, stdout=self.output,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        for port in (self.c2s_port, self.component_port):
            while not _accepts(port):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"prosody did not listen on {port}:\n" + self.log())
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.output.close()

    def log(self) -> str:
        parts = []
        for name in ("console.log", "prosody.log"):
            path = self.folder / name
            if path.exists():
                parts.append(f"==== prosody {name}:\n" + path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0
