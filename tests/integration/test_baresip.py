"""Two real phones (baresip, Debian package) register with their passwords to `geosip
run` with scripts/default.lua, and one calls the other through it (issue 5 item 6).

The operator's steps: `geosipctl subscriber add alice@example.com secret` (and bob),
`geosip run --alias example.com`; each phone has its own config dir with an accounts
line `<sip:alice@example.com>;auth_pass=...;outbound="sip:GEOSIP"` (the domain is
not in DNS, so requests go to geosip as outbound proxy). No audio device: aubridge is
the player and the source (Debian's baresip 1.0 ships no null audio module; aufile is
a source only and ausine needs 48 kHz). The callee answers by itself (answermode=auto).

The test reads the registrations on the phones' consoles ("alice@example.com: {0/UDP/v4}
200 OK"; a third phone, not a subscriber, is refused with 401), dials and hangs up through
their ctrl_tcp module and reads its JSON events (netstrings: CALL_ESTABLISHED on both
phones, CALL_CLOSED at the callee after the caller's BYE).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.accounts import Accounts, make_accounts, sqlite_url

from ._proxy import HOST, Proxy
from .conftest import fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scripts" / "default.lua"
DOMAIN = "example.com"
BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULES = Path("/usr/lib/baresip/modules")


class Phone:
    """One baresip process and a ctrl_tcp connection to it."""

    def __init__(self, folder: Path, user: str, password: str, proxy: str,
                 sip_port: int, ctrl_port: int) -> None:
        folder.mkdir(parents=True)
        self.user, self.folder = user, folder
        # baresip binds TCP on sip_port too and TLS on sip_port + 1 (checked free)
        (folder / "config").write_text("\n".join([
            "poll_method epoll", f"sip_listen {HOST}:{sip_port}",
            "audio_player aubridge,nil", "audio_source aubridge,nil",
            "audio_alert aubridge,nil", f"module_path {MODULES}",
            "module g711.so", "module aubridge.so",
            "module_app account.so", "module_app menu.so", "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen {HOST}:{ctrl_port}", ""]))
        (folder / "accounts").write_text(
            f'<sip:{user}@{DOMAIN}>;auth_pass={password};outbound="sip:{proxy}";'
            "answermode=auto;regint=600\n")
        (folder / "contacts").write_text("")
        self.output = open(folder / "output.log", "wb")
        self.proc = subprocess.Popen(["timeout", "-k", "2", "60", BARESIP, "-f", str(folder)],
                                     stdin=subprocess.DEVNULL, stdout=self.output,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.events: list[dict[str, object]] = []
        self._buffer = b""
        self.ctrl = self._connect(ctrl_port)

    def _connect(self, port: int) -> socket.socket:
        deadline = time.monotonic() + 10
        while True:
            try:
                return socket.create_connection((HOST, port), timeout=1)
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"baresip {self.user} did not start:\n"
                                         + self.log()) from None
                time.sleep(0.1)

    def command(self, name: str, params: str = "") -> None:
        data = json.dumps({"command": name, "params": params, "token": name}).encode()
        self.ctrl.sendall(b"%d:%s," % (len(data), data))

    def wait_event(self, kind: str, timeout: float = 10) -> dict[str, object]:
        """The first event of `kind` (seen before or within `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("type") == kind:
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"baresip {self.user}: no {kind}; events "
                                     f"{[e.get('type') for e in self.events]}\n{self.log()}")
            self.ctrl.settimeout(left)
            try:
                chunk = self.ctrl.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise AssertionError(f"baresip {self.user} closed ctrl_tcp\n{self.log()}")
            self._buffer += chunk
            self._parse()

    def _parse(self) -> None:
        while b":" in self._buffer:  # netstrings: LENGTH ":" DATA ","
            length, _, rest = self._buffer.partition(b":")
            size = int(length)
            if len(rest) < size + 1:
                return
            message = json.loads(rest[:size])
            self._buffer = rest[size + 1:]
            if message.get("event"):
                self.events.append(message)

    def wait_output(self, text: str, timeout: float = 10) -> str:
        """The first line of baresip's console output that contains `text`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in (self.folder / "output.log").read_text(errors="replace").splitlines():
                if text in line:
                    return line
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"baresip {self.user} never said {text!r}\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        text = (self.folder / "output.log").read_text(errors="replace")
        return f"==== baresip {self.user}:\n" + text.split("[0:00:")[0][-6000:]

    def stop(self) -> None:
        self.ctrl.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.output.close()


@pytest.fixture(params=["sqlite", "postgres"])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Accounts:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = fresh_pg_database(request.getfixturevalue("postgres_url"), "phone")
    return make_accounts(url, tmp_path)


@pytest.fixture
def phones(tmp_path: Path, free_port: Callable[..., int]) -> Iterator[Callable[..., Phone]]:
    made: list[Phone] = []

    def phone(user: str, password: str, proxy: Proxy) -> Phone:
        while True:  # baresip also takes sip_port + 1 (TLS)
            port = free_port()
            if _free(port + 1):
                break
        made.append(Phone(tmp_path / user, user, password, proxy.addr(), port, free_port()))
        return made[-1]

    yield phone
    for p in made:
        p.stop()


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def test_two_phones_register_and_call_each_other(
    accounts: Accounts, proxy: Callable[..., Proxy], phones: Callable[..., Phone],
) -> None:
    if not Path(BARESIP).exists():
        pytest.fail("baresip missing: run `make test` (installs it) or .ci/install-peers")
    accounts.add(f"alice@{DOMAIN}", "secret")
    accounts.add(f"bob@{DOMAIN}", "bobs-secret")
    p = proxy("-c", str(DEFAULT), "--db", accounts.url, "--alias", DOMAIN)
    bob = phones("bob", "bobs-secret", p)
    alice = phones("alice", "secret", p)
    mallory = phones("mallory", "guess", p)  # not a subscriber: refused
    context = lambda: "\n".join([alice.log(), bob.log(), mallory.log(),  # noqa: E731
                                 "==== geosip:", p.log()[-6000:]])
    # (registration comes before ctrl_tcp has a client: read it from the console)
    for phone in (alice, bob):
        phone.wait_output(f"{phone.user}@{DOMAIN}: {{0/UDP/v4}} 200 OK")
    refused = mallory.wait_output(f"reg: sip:mallory@{DOMAIN}:")
    assert "401 Unauthorized" in refused, context()

    alice.command("dial", f"sip:bob@{DOMAIN}")
    answered = bob.wait_event("CALL_ESTABLISHED")
    established = alice.wait_event("CALL_ESTABLISHED")
    assert answered["peeruri"] == f"sip:alice@{DOMAIN}", context()
    assert established["peeruri"] == f"sip:bob@{DOMAIN}", context()

    alice.command("hangup")  # a BYE through the Record-Route set
    bob.wait_event("CALL_CLOSED")
    assert f"{DOMAIN}: Call established" in alice.log(), context()
    p.assert_no_tracebacks()
