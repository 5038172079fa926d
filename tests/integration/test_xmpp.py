"""The XMPP gateway end to end (issue 7 items 2, 4, 5): `geosip run` with
scripts/default.lua and geosip.gateways.xmpp starts the gateway process; prosody (the
XMPP server, tests/support/prosody.py) has the component and the user juliet, who is a
slixmpp ClientXMPP on a loop of its own here; the SIP side is sipp.

The first test, in the order a user would live it: SIP -> XMPP, presence subscription,
XMPP -> SIP to a registered phone, prosody restarted (503 with Retry-After while it is
down, delivered again once the gateway is back), the gateway killed (geosip starts it
again), geosip stopped (the gateway goes with it). The second: with --workers 2, one
gateway, a child of worker 0, replaced along with worker 0 when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP

from tests.support.prosody import Prosody
from tests.support.scripts import open_default

from ._gateway_stats import ctl as _ctl
from ._gateway_stats import wait_for_statistics
from ._proxy import HOST
from ._sipp import SCENARIOS, Sipp

pytestmark = pytest.mark.skipif(not Path("/usr/bin/prosody").exists(),
                                reason="prosody is not installed (make peers)")

COMPONENT = "sip.localhost"   # the gateway's JID domain
XMPP_DOMAIN = "localhost"     # juliet's server
GW_DOMAIN = "xmpp-gw.test"    # SIP host under which XMPP users are reached
WAIT = 20.0


class XmppUser:
    """A slixmpp ClientXMPP running in a thread with its own asyncio loop; what it
    receives (messages, presence) lands in `inbox` as tuples."""

    def __init__(self, jid: str, password: str, port: int) -> None:
        self.inbox: queue.Queue[tuple[str, ...]] = queue.Queue()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.online = threading.Event()
        self.client: Any = self._call(self._make(jid, password, port))

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    async def _make(self, jid: str, password: str, port: int) -> ClientXMPP:
        client = ClientXMPP(jid, password, plugin_config={
            "feature_mechanisms": {"unencrypted_scram": True}})
        client.loop = self.loop
        client.enable_direct_tls = client.enable_starttls = False  # loopback, no TLS
        client.enable_plaintext = True
        client.add_event_handler("session_start", self._started)
        client.add_event_handler("message", lambda m: self.inbox.put(
            ("message", m["type"], str(m["from"]), m["body"])))
        for kind in ("presence_subscribed", "presence_unavailable"):
            client.add_event_handler(kind, lambda p: self.inbox.put(
                ("presence", p["type"], str(p["from"]))))
        client.connect(HOST, port)
        return client

    async def _started(self, _: Any) -> None:
        self.client.send_presence()
        await self.client.get_roster()
        self.online.set()

    def wait_online(self) -> "XmppUser":
        assert self.online.wait(WAIT), "juliet could not log in to prosody"
        return self

    def send(self, to: str, body: str) -> None:
        self.loop.call_soon_threadsafe(
            lambda: self.client.send_message(mto=to, mbody=body, mtype="chat"))

    def subscribe(self, to: str) -> None:
        self.loop.call_soon_threadsafe(
            lambda: self.client.send_presence(pto=to, ptype="subscribe"))

    def next(self, kind: str) -> tuple[str, ...]:
        """The next item of `kind` received (others before it are skipped)."""
        while True:
            item = self.inbox.get(timeout=WAIT)
            if item[0] == kind:
                return item

    def close(self) -> None:
        """Log out and end the thread (a thread left running breaks pytest's teardown);
        its loop is closed when collected."""
        if not self.thread.is_alive():
            return

        async def logout() -> None:
            self.client.disconnect(wait=0.5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.disconnected, 3)
            # slixmpp's XMLStream.__del__ cancels this task on its loop, which is closed
            # by then (an "Event loop is closed" error at the end of the session)
            task, self.client._run_out_filters = self.client._run_out_filters, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(logout(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def prosody(tmp_path: Path, free_port: Callable[..., int]) -> Iterator[Prosody]:
    server = Prosody(tmp_path / "prosody", free_port(), free_port(), domain=XMPP_DOMAIN,
                     component=COMPONENT, secret="s3cret",
                     users={"juliet": "julietpw", "nurse": "nursepw"})
    server.start()
    yield server
    server.stop()


def _script(folder: Path, prosody: Prosody, core_port: int, gateway_port: int) -> Path:
    """default.lua (without auth: sipp peers are strangers) with the gateway enabled
    the way its header says."""
    script = open_default(folder)
    script.write_text(script.read_text() + f'''
geosip.gateways = {{ xmpp = {{
  component = "{COMPONENT}", secret = "{prosody.secret}",
  server = "{HOST}:{prosody.component_port}", sip_listen = "{HOST}:{gateway_port}",
  proxy = "{HOST}:{core_port}", gateway_domain = "{GW_DOMAIN}", domain_separator = "*",
  retry_after = 7, log_level = "debug" }} }}
''')
    return script


def _gateway_pid(server: Any, after: int = 0) -> int:
    """The pid of the gateway process geosip started, from its log (children.py)."""
    server.wait_for_count("gateway xmpp started (pid", after + 1)
    started = [line for line in server.lines if "gateway xmpp started (pid" in line]
    return int(re.search(r"pid (\d+)", started[after]).group(1))


def _log(server: Any) -> str:
    """Everything geosip (and its gateway) said so far."""
    with contextlib.suppress(AssertionError):  # drains what is still in the pipe
        server.wait_for("\0", timeout=0.5)
    return "\n".join(server.lines)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sip_and_xmpp_users_chat_through_the_gateway(
        prosody: Prosody, start: Callable[..., Any], sipp: Callable[..., Sipp],
        free_port: Callable[..., int], tmp_path: Path) -> None:
    core_port, gateway_port = free_port(), free_port()
    script = _script(tmp_path, prosody, core_port, gateway_port)
    # romeo's phone registers as sip:romeo@127.0.0.1 (register_uac.xml): that host is
    # ours on any port, so juliet's replies to it are looked up, not relayed to :5060
    server = start("-c", str(script), "-l", f"udp:{HOST}:{core_port}",
                   "-l", f"tcp:{HOST}:{core_port}", "--alias", HOST)
    server.wait_for("geosip ready")
    pid = _gateway_pid(server)
    server.wait_for(f"XMPP component {COMPONENT} connected")
    juliet = XmppUser(f"juliet@{XMPP_DOMAIN}/test", "julietpw", prosody.c2s_port)
    juliet.wait_online()
    romeo = f"romeo*{HOST}@{COMPONENT}"  # romeo's JID on the component (sip:romeo@HOST)
    messages = 0

    def message(text: str) -> tuple[int, Any]:
        nonlocal messages
        messages += 1
        sent = sipp(f"message{messages}", SCENARIOS / "xmpp_message_uac.xml",
                    port=free_port(), remote=f"{HOST}:{core_port}",
                    extra=["-s", f"juliet*{XMPP_DOMAIN}"],
                    keys={"domain": GW_DOMAIN, "from": f"romeo@{HOST}", "text": text}).run()
        finals = sent.finals()
        assert finals, sent.report() + "\n" + "\n".join(server.lines[-60:])
        return finals[-1].status, finals[-1]

    try:
        # SIP -> XMPP: 202 to the sender, a chat from romeo's JID to juliet
        status, _ = message("hello juliet")
        assert status == 202, "\n".join(server.lines[-40:])
        kind, mtype, sender, body = juliet.next("message")
        assert (mtype, sender, body.strip()) == ("chat", romeo, "hello juliet")

        # presence: juliet adds romeo; the gateway approves and says he is unavailable
        juliet.subscribe(romeo)
        assert juliet.next("presence")[1:] == ("subscribed", romeo)
        assert juliet.next("presence")[1:] == ("unavailable", romeo)

        # XMPP -> SIP: romeo's phone is registered; juliet's reply reaches it as a
        # MESSAGE from her address on the gateway domain, through the core
        phone_port = free_port()
        phone = sipp("phone", SCENARIOS / "xmpp_message_uas.xml", port=phone_port)
        phone.start().wait_listening()
        registered = sipp("register", SCENARIOS / "register_uac.xml", port=free_port(),
                          remote=f"{HOST}:{core_port}",
                          keys={"user": "romeo", "contact_port": str(phone_port)}).run()
        assert registered.successful == 1, registered.report()
        juliet.send(romeo, "hello romeo")
        got = phone.wait(timeout=WAIT)
        assert len(got.received("MESSAGE")) == 1, _log(server)
        [received] = got.received("MESSAGE")
        assert received.uri == f"sip:romeo@{HOST}:{phone_port}", got.report()
        assert f"<sip:juliet*{XMPP_DOMAIN}@{GW_DOMAIN}>" in received.header("From")[0]
        assert received.text.rstrip().endswith("hello romeo"), got.report()

        # the XMPP server restarts: 503 with Retry-After while it is down, then the
        # gateway connects again by itself and the next MESSAGE is delivered
        prosody.stop()
        server.wait_for("XMPP link down")
        status, final = message("are you there?")
        # the gateway answers 503; default.lua's failure route says 503 with the
        # gateway's Retry-After itself (a proxy would forward a 503 as 500, §16.7)
        server.wait_for(": 503, the XMPP link is down", timeout=WAIT)  # the gateway said so
        assert status == 503 and final.header("Retry-After") == ["7"], final.text
        juliet.close()
        prosody.start()
        server.wait_for_count(f"XMPP component {COMPONENT} connected", 2, timeout=WAIT)
        juliet = XmppUser(f"juliet@{XMPP_DOMAIN}/test", "julietpw", prosody.c2s_port)
        juliet.wait_online()
        status, _ = message("back again")
        assert status == 202
        assert juliet.next("message")[3].strip() == "back again"
        # what the operator sees (geosipctl): 3 MESSAGEs from SIP, 2 carried, 1 refused
        # while prosody was down, juliet's reply delivered, one reconnect
        wait_for_statistics(tmp_path, {
            "gateway:xmpp_sip_received": 3, "gateway:xmpp_xmpp_sent": 2,
            "gateway:xmpp_refused_503": 1, "gateway:xmpp_xmpp_received": 1,
            "gateway:xmpp_sip_sent": 1, "gateway:xmpp_failed": 0,
            "gateway:xmpp_reconnects": 1, "gateway:xmpp_connected": 1,
            "gateway:xmpp_up": 1})

        # the gateway process dies: geosip starts it again
        os.kill(pid, 9)
        new_pid = _gateway_pid(server, after=1)
        assert new_pid != pid
        server.wait_for_count(f"XMPP component {COMPONENT} connected", 3, timeout=WAIT)
        status, _ = message("after the crash")
        assert status == 202
        assert juliet.next("message")[3].strip() == "after the crash"
        # what an operator sees: geosipctl gateway.list and the gateway:xmpp_up gauge
        # (the new process counts from 0: one MESSAGE since)
        wait_for_statistics(tmp_path, {"gateway:xmpp_sip_received": 1,
                                       "gateway:xmpp_xmpp_sent": 1,
                                       "gateway:xmpp_reconnects": 0,
                                       "gateway:xmpp_up": 1})
        [gateway] = json.loads(_ctl(tmp_path, "--json", "gateway.list"))
        assert (gateway["name"], gateway["pid"], gateway["running"], gateway["restarts"],
                gateway["up"], gateway["counters"]["xmpp_sent"], gateway["state"]) \
            == ("gateway xmpp", new_pid, True, 1, True, 1, {"connected": 1})
    finally:
        juliet.close()
    # geosip stops: its gateway goes with it
    assert server.stop() == 0
    assert not _alive(new_pid)


WORKERS_SCRIPT = """
function ksr_request_route()
  if KSR.is_MESSAGE() and KSR.pv.get("$rd") == "%(gw_domain)s" then
    KSR.pv.sets("$du", "sip:%(gateway)s")
    KSR.tm.t_relay()
    return
  end
  KSR.sl.sl_send_reply(404, "Not here")
end
geosip = { gateways = { xmpp = {
  component = "%(component)s", secret = "%(secret)s", server = "%(server)s",
  sip_listen = "%(gateway)s", proxy = "%(proxy)s", gateway_domain = "%(gw_domain)s" } } }
"""


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_with_workers_worker_0_runs_the_one_gateway(
        prosody: Prosody, start: Callable[..., Any], sipp: Callable[..., Sipp],
        free_port: Callable[..., int], tmp_path: Path) -> None:
    core_port, gateway_port = free_port(), free_port()
    script = tmp_path / "workers.lua"
    script.write_text(WORKERS_SCRIPT % {
        "gw_domain": GW_DOMAIN, "gateway": f"{HOST}:{gateway_port}", "component": COMPONENT,
        "secret": prosody.secret, "server": f"{HOST}:{prosody.component_port}",
        "proxy": f"{HOST}:{core_port}"})
    server = start("-c", str(script), "-l", f"udp:{HOST}:{core_port}", "--workers", "2")
    server.wait_for_count("geosip ready", 2)
    pid = _gateway_pid(server)
    worker0 = _parent(pid)
    assert worker0 != server.proc.pid  # a worker's child, not the supervising parent's
    server.wait_for(f"XMPP component {COMPONENT} connected")
    juliet = XmppUser(f"juliet@{XMPP_DOMAIN}/test", "julietpw", prosody.c2s_port)
    try:
        juliet.wait_online()
        for n in range(4):  # from four source ports: the kernel spreads them over workers
            sent = sipp(f"m{n}", SCENARIOS / "xmpp_message_uac.xml", port=free_port(),
                        remote=f"{HOST}:{core_port}", extra=["-s", f"juliet*{XMPP_DOMAIN}"],
                        keys={"domain": GW_DOMAIN, "from": f"romeo@{HOST}",
                              "text": f"hello {n}"}).run()
            assert [m.status for m in sent.finals()] == [202], sent.report()
            assert juliet.next("message")[3].strip() == f"hello {n}"
        # worker 0 dies: its gateway goes with it, the new worker 0 starts another
        os.kill(worker0, 9)
        new_pid = _gateway_pid(server, after=1)
        assert _parent(new_pid) not in (worker0, server.proc.pid)
        deadline = time.monotonic() + WAIT  # PDEATHSIG: SIGTERM, then a clean stop
        while _alive(pid) and not _zombie(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid) or _zombie(pid), _log(server)
        assert sum("gateway xmpp started" in line for line in server.lines) == 2
    finally:
        juliet.close()
    assert server.stop() == 0
    assert not _alive(new_pid)


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    return False
