"""Kannel as the SMS gateway's HTTP-side peer (STACK-NOTES.md §7): bearerbox with a fake
SMSC, smsbox with the sendsms interface and an sms-service whose get-url is the
gateway's, and fakesmsc playing the handsets. Debian packages kannel, kannel-extras.

    with Kannel(tmp_path, get_url="http://127.0.0.1:P/mo?from=%p&to=%P&text=%b&charset=%C",
                ports=free_ports) as kannel:
        kannel.sendsms_url                    # for the gateway's kannel.sendsms_url
        handset = kannel.handset("+4930123 +447700900001 text hello")  # MO at start
        handset.wait_for("Got message")       # an MT reached the fake SMSC

Every port is on 127.0.0.1 and chosen by the caller's `ports()` (free ones). Processes
are stopped by pid at exit.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

from .lines import ProcessLines

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USER, PASSWORD = "geosip", "smspw"


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} is not listening on port {port}")


class Handset(ProcessLines):
    """A fakesmsc process: what it printed, line by line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(proc, "fakesmsc")

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        return super().wait_for(text, timeout)


class Kannel:
    def __init__(self, folder: Path, *, get_url: str, ports: Callable[[], int]) -> None:
        self.folder = folder / "kannel"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.admin_port, self.box_port, self.smsc_port, self.sendsms_port = (
            ports(), ports(), ports(), ports())
        self.get_url = get_url
        self.procs: list[subprocess.Popen] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def _config(self) -> Path:
        conf = self.folder / "kannel.conf"
        conf.write_text(f"""\
group = core
admin-port = {self.admin_port}
admin-password = adminpw
admin-interface = 127.0.0.1
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.box_port}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{self.folder}/bearerbox.log"
log-level = 1
store-type = file
store-location = "{self.folder}/store"

group = smsc
smsc = fake
smsc-id = FAKE
host = 127.0.0.1
port = {self.smsc_port}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{self.folder}/smsbox.log"
log-level = 1

group = sendsms-user
username = {USER}
password = {PASSWORD}
max-messages = 10
concatenation = true

group = sms-service
keyword = default
get-url = "{self.get_url}"
max-messages = 0
catch-all = true
""")
        return conf

    def __enter__(self) -> "Kannel":
        conf = self._config()
        for box, port in (("bearerbox", self.box_port), ("smsbox", self.sendsms_port)):
            proc = subprocess.Popen([f"/usr/sbin/{box}", str(conf)], cwd=self.folder,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            self.procs.append(proc)
            _wait_port(port, proc, box)
        return self

    def handset(self, *messages: str) -> Handset:
        """fakesmsc connected to bearerbox, sending `messages` (each once) as MO."""
        args = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-i", "0.2",
                "-m", str(len(messages))]
        proc = subprocess.Popen([*args, *(messages or ("0 0 text none",))],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, cwd=self.folder)
        self.procs.append(proc)
        return Handset(proc)

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
