"""The control interface as an operator uses it (issue 8): `geosip run` as a real process,
`geosipctl` run as a subprocess the way it is typed, sipp as the traffic.

Checked: statistics after real calls match what sipp sent; cfg.set of tm's fr_inv_timer
shortens the wait for a ringing callee (Kamailio's fr_inv_timer, RFC 3261 §16.8 timer
C); app_lua.reload swaps the script and refuses a broken one; /metrics parses with
prometheus-client's parser and agrees with stats.get_statistics; the errors when geosip
is not running; and the issue's "Done when": a tm timer changed and the script reloaded
through geosipctl while sipp calls run, with no failed call.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp
from .conftest import BIN, START_TIMEOUT, Server

GEOSIPCTL = str(BIN / "geosipctl")
SCRIPT = Path(__file__).resolve().parent / "scripts" / "proxy.lua"


def ctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`geosipctl ARGS` in `cwd` (where geosip run's default data dir is)."""
    return subprocess.run([GEOSIPCTL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={"PATH": f"{BIN}:/usr/bin:/bin"})


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"geosipctl exit {done.returncode}: {done.stderr}{done.stdout}"
    return done.stdout


def statistics(cwd: Path, which: str = "all") -> dict[str, int]:
    """stats.get_statistics through geosipctl, as {name: value}."""
    out = {}
    for line in ok(ctl(cwd, "stats.get_statistics", which)).splitlines():
        name, _, value = line.partition(" = ")
        out[name] = int(float(value))
    return out


@pytest.fixture
def lua_proxy(proxy: Callable[..., Proxy], tmp_path: Path) -> Callable[..., Proxy]:
    """geosip run -c proxy.lua (a copy in the test's folder, its OPTIONS answer tagged
    "v1" so a reload can be seen on the wire)."""
    def start(*args: str) -> Proxy:
        (tmp_path / "proxy.lua").write_text(SCRIPT.read_text().replace("Keepalive", "v1"))
        return proxy("-c", "proxy.lua", *args)
    return start


def calls(sipp: Callable[..., Sipp], p: Proxy, free_port: Callable[..., int], n: int,
          rate: int | None = None, **kwargs: object) -> tuple[Sipp, Sipp]:
    """A callee and a caller (bench/sipp uas/uac) placing `n` calls through `p`."""
    uas_port = free_port()
    uas = sipp("uas", BENCH / "uas.xml", port=uas_port, calls=n, **kwargs).start()
    uas.wait_listening()
    uac = sipp("uac", BENCH / "uac.xml", port=free_port(), remote=f"{HOST}:{uas_port}",
               proxy=p.addr(), calls=n, rate=rate, **kwargs).start()
    return uac, uas


def assert_all_calls(n: int, *peers: Sipp) -> None:
    for peer in peers:
        result = peer.wait()
        counted = (result.returncode, result.successful, result.failed)
        assert counted == (0, n, 0), result.report()


def test_statistics_match_the_traffic(lua_proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
                                      free_port: Callable[..., int], tmp_path: Path) -> None:
    p = lua_proxy()
    before = statistics(tmp_path)
    assert before["core:rcv_requests_invite"] == 0 and before["tm:inuse_transactions"] == 0
    uac, uas = calls(sipp, p, free_port, 10)
    assert_all_calls(10, uac, uas)
    sent = uac.result()
    stats = statistics(tmp_path)
    # every INVITE and BYE sipp sent (retransmissions included) reached the core
    assert stats["core:rcv_requests_invite"] == len(sent.sent("INVITE")) >= 10
    assert stats["core:rcv_requests_bye"] == len(sent.sent("BYE")) >= 10
    assert stats["core:rcv_requests_ack"] == len(sent.sent("ACK"))
    assert stats["tm:2xx_transactions"] == 20          # each INVITE and BYE answered 200
    assert stats["core:rcv_replies_2xx"] >= 20
    assert statistics(tmp_path, "core:rcv_requests_invite") == {
        "core:rcv_requests_invite": stats["core:rcv_requests_invite"]}
    tm = json.loads(ok(ctl(tmp_path, "--json", "tm.stats")))
    assert tm["2xx"] == 20 and tm["total"] >= 20
    assert ok(ctl(tmp_path, "stats.reset_statistics", "core:")) == ""
    assert statistics(tmp_path, "core:")["core:rcv_requests_invite"] == 0
    p.assert_no_tracebacks()


def test_cfg_set_fr_inv_timer_shortens_the_wait_for_a_ringing_callee(
        lua_proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
        free_port: Callable[..., int], tmp_path: Path) -> None:
    p = lua_proxy("--fr-inv-timer", "60")
    assert ok(ctl(tmp_path, "cfg.get", "tm", "fr_inv_timer")) == "60000\n"
    assert ok(ctl(tmp_path, "cfg.set", "tm", "fr_inv_timer", "1500")) == ""
    assert ok(ctl(tmp_path, "cfg.get", "tm", "fr_inv_timer")) == "1500\n"
    uas_port = free_port()
    uas = sipp("uas", SCENARIOS / "cancel_uas.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", SCENARIOS / "reject_uac.xml", port=free_port(),
               remote=f"{HOST}:{uas_port}", proxy=p.addr(), wall=20).run()
    assert [m.status for m in uac.finals()] == [408], uac.report()
    waited = uac.finals()[0].when - uac.sent("INVITE")[0].when
    assert 1.2 <= waited <= 5, f"408 after {waited:.2f}s, not about 1.5 s\n{uac.report()}"
    assert len(uas.wait().received("CANCEL")) == 1     # the ringing branch was cancelled
    bad = ctl(tmp_path, "cfg.set", "tm", "fr_inv_timer", "soon")
    assert (bad.returncode, bad.stderr) == (
        1, "error: 400 - tm.fr_inv_timer: 'soon' is not a float\n")


def options_reason(sipp: Callable[..., Sipp], p: Proxy, free_port: Callable[..., int],
                   name: str) -> str:
    uac = sipp(name, SCENARIOS / "options_uac.xml", port=free_port(), remote=p.addr()).run()
    finals = uac.finals()
    assert [m.status for m in finals] == [200], uac.report()
    return finals[0].start_line.split(" ", 2)[2]


def test_app_lua_reload_swaps_the_script(lua_proxy: Callable[..., Proxy],
                                         sipp: Callable[..., Sipp],
                                         free_port: Callable[..., int], tmp_path: Path) -> None:
    p = lua_proxy()
    assert options_reason(sipp, p, free_port, "before") == "v1"
    script = tmp_path / "proxy.lua"
    script.write_text(script.read_text().replace('"v1"', '"v2"'))
    assert ok(ctl(tmp_path, "app_lua.reload")) == "{\n\told: 1\n\tnew: 2\n}\n"
    assert options_reason(sipp, p, free_port, "after") == "v2"
    script.write_text("function ksr_request_route(\n")
    refused = ctl(tmp_path, "app_lua.reload")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: 500 - Reload Failed: proxy.lua:")
    assert options_reason(sipp, p, free_port, "still") == "v2"   # the old one serves on
    api = json.loads(ok(ctl(tmp_path, "--json", "app_lua.api_list")))
    assert {"ret": "int", "module": "tm", "name": "t_relay", "params": "none"} in [
        m["func"] for m in api["methods"]]


def test_metrics_over_http_agree_with_the_rpc(lua_proxy: Callable[..., Proxy],
                                              sipp: Callable[..., Sipp],
                                              free_port: Callable[..., int],
                                              tmp_path: Path) -> None:
    port = free_port()
    p = lua_proxy("--rpc-http", f"{HOST}:{port}")
    options_reason(sipp, p, free_port, "ping")
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=")
        text = answer.read().decode()
    assert "# HELP geosip_core_rcv_requests_total " in text
    assert "# TYPE geosip_core_rcv_requests_total counter" in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    stats = statistics(tmp_path, "core:")
    total = {s.name: s.value for s in families["geosip_core_rcv_requests_options"].samples}
    assert total["geosip_core_rcv_requests_options_total"] == \
        stats["core:rcv_requests_options"] >= 1
    assert families["geosip_tm_inuse_transactions"].type == "gauge"
    # geosipctl over HTTP: the same commands
    assert ok(ctl(tmp_path, "-s", f"http://{HOST}:{port}", "core.version")).startswith("geosip ")


def test_not_running_is_one_clear_line(tmp_path: Path) -> None:
    done = ctl(tmp_path, "core.uptime")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("geosipctl: geosip is not running (no control socket at "
                           "./geosip-data/geosip_ctl)\n")
    stale = tmp_path / "stale_ctl"  # a socket file left by a killed geosip
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(stale))
    sock.close()
    done = ctl(tmp_path, "-s", str(stale), "ul.dump")
    assert (done.returncode, done.stderr) == (
        1, f"geosipctl: geosip is not running (no control socket at {stale})\n")
    done = ctl(tmp_path, "-s", f"http://{HOST}:9", "core.uptime")
    assert done.returncode == 1
    assert done.stderr == f"geosipctl: geosip is not running (nothing listens at http://{HOST}:9/RPC)\n"


def test_socket_mode_and_a_second_server_on_it(start: Callable[..., Server],
                                               free_port: Callable[..., int],
                                               tmp_path: Path) -> None:
    sock = tmp_path / "ctl" / "geosip.sock"
    sock.parent.mkdir()
    server = start("-l", f"udp:{HOST}:{free_port()}", "--rpc-socket", str(sock))
    server.wait_for("geosip ready")
    assert oct(sock.stat().st_mode & 0o777) == "0o660"
    assert ok(ctl(tmp_path, "-s", str(sock), "core.ps")).splitlines()[0] == str(server.proc.pid)
    second = subprocess.run(
        [str(BIN / "geosip"), "run", "-l", f"udp:{HOST}:{free_port()}", "--rpc-socket",
         str(sock)], cwd=tmp_path, capture_output=True, text=True, timeout=START_TIMEOUT)
    assert second.returncode == 1
    assert f"control socket {sock} is in use" in second.stderr
    assert server.stop() == 0
    assert not sock.exists()          # removed at the end


def test_http_on_an_open_address_needs_auth_or_an_allow_list(
        tmp_path: Path, free_port: Callable[..., int]) -> None:
    done = subprocess.run(
        [str(BIN / "geosip"), "run", "-l", f"udp:{HOST}:{free_port()}", "--rpc-http",
         f"0.0.0.0:{free_port()}"], cwd=tmp_path, capture_output=True, text=True,
        timeout=START_TIMEOUT)
    assert done.returncode == 1
    assert "is not a loopback address: give it basic auth (rpc.auth) or an allow-list" \
        in done.stderr


def test_basic_auth_and_allow_list(start: Callable[..., Server], free_port: Callable[..., int],
                                   tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "auth.lua").write_text(
        'geosip = { rpc = { http = "127.0.0.1:%d", auth = "ops:s3cret", '
        'allow = { "127.0.0.0/8" } } }\n'
        'function ksr_request_route() KSR.sl.sl_send_reply(404, "no") end\n' % port)
    server = start("-l", f"udp:{HOST}:{free_port()}", "-c", "auth.lua")
    server.wait_for("geosip ready")
    body = json.dumps({"jsonrpc": "2.0", "method": "core.uptime", "id": 1}).encode()
    request = urllib.request.Request(f"http://{HOST}:{port}/RPC", data=body)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401
    import base64
    request.add_header("Authorization", "Basic " + base64.b64encode(b"ops:s3cret").decode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert "uptime" in json.loads(answer.read())["result"]
    # geosipctl takes the credentials in the URL, and says so when they are wrong
    url = f"http://ops:s3cret@{HOST}:{port}"
    assert ok(ctl(tmp_path, "-s", url, "core.version")).startswith("geosip ")
    wrong = ctl(tmp_path, "-s", f"http://ops:guess@{HOST}:{port}", "core.version")
    assert (wrong.returncode, wrong.stderr) == (
        1, f"geosipctl: http://{HOST}:{port}/RPC: HTTP 401 Unauthorized\n")


def test_timer_change_and_reload_under_traffic_fail_no_call(
        lua_proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
        free_port: Callable[..., int], tmp_path: Path) -> None:
    """The issue's "Done when": while sipp places calls, the operator changes a tm timer
    and reloads the script through geosipctl; every call succeeds."""
    p = lua_proxy()
    n = 60
    uac, uas = calls(sipp, p, free_port, n, rate=20, wall=40)
    time.sleep(1.0)                     # calls are flowing
    assert ok(ctl(tmp_path, "cfg.set", "tm", "fr_inv_timer", "30000")) == ""
    script = tmp_path / "proxy.lua"
    script.write_text(script.read_text().replace('"v1"', '"v2"'))
    assert ok(ctl(tmp_path, "app_lua.reload")) == "{\n\told: 1\n\tnew: 2\n}\n"
    assert ok(ctl(tmp_path, "cfg.get", "tm", "fr_inv_timer")) == "30000\n"
    running = uac.result()
    assert running.returncode == -1, "sipp ended before the changes: the test proves nothing"
    assert_all_calls(n, uac, uas)
    assert statistics(tmp_path, "tm:2xx_transactions")["tm:2xx_transactions"] == 2 * n
    assert options_reason(sipp, p, free_port, "after") == "v2"
    p.assert_no_tracebacks()


def test_completion_lists_the_servers_commands(lua_proxy: Callable[..., Proxy],
                                               tmp_path: Path) -> None:
    lua_proxy()
    script = ok(ctl(tmp_path, "completion", "bash"))
    done = subprocess.run(
        ["bash", "-c", script + '\nCOMP_WORDS=(geosipctl core.); COMP_CWORD=1; _geosipctl; '
         'echo "${COMPREPLY[@]}"'], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": f"{BIN}:/usr/bin:/bin"})
    assert done.stdout.split() == ["core.info", "core.ps", "core.tcp_info", "core.uptime",
                                    "core.version"], done.stderr


def test_script_sets_the_socket(start: Callable[..., Server], free_port: Callable[..., int],
                                tmp_path: Path) -> None:
    shutil.copy(SCRIPT, tmp_path / "p.lua")
    (tmp_path / "p.lua").write_text('geosip = { rpc = { socket = "my.sock" } }\n'
                                    + SCRIPT.read_text())
    server = start("-l", f"udp:{HOST}:{free_port()}", "-c", "p.lua")
    server.wait_for("geosip ready")
    assert ok(ctl(tmp_path, "-s", "my.sock", "core.version")).startswith("geosip ")
