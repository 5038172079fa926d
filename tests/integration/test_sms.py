"""The SMS gateway with real peers (issue 7 items 3-5): `geosip run` starts it from the
script's `geosip.gateways.sms` table; sipp sends MESSAGEs to phone numbers through the
core and receives inbound SMS as MESSAGE; the SMS side is the SMSC simulator (SMPP,
tests/support/smsc.py) or Kannel with fakesmsc (HTTP, tests/support/kannel.py)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from smpplib import consts as c

from tests.support.kannel import PASSWORD, USER, Kannel
from tests.support.smsc import Smsc

from ._gateway_stats import prometheus, wait_for_statistics

ALICE = "sip:alice@example.com"
ALICE_NUMBER = "+447700900001"
PHONE = "+447700900123"

UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="MESSAGE to a phone number">
  <send retrans="500"><![CDATA[

      MESSAGE [field0] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:alice@example.com>;tag=[pid]SIPpTag00[call_number]
      To: <[field0]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      Content-Type: text/plain;charset=UTF-8
      Content-Length: [len]

[field1]
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="202" optional="true" next="end"/>
  <recv response="503" next="end"/>
  <label id="end"/>
</scenario>
"""

UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="MESSAGE receiver">
  <recv request="MESSAGE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

# The few lines a script needs (gateways/sms/README.md): MESSAGEs for the SMS domain or
# a tel: URI go to the gateway; everything else (the inbound SMS too) to the UAS here.
SCRIPT = """
geosip = {{ gateways = {{ sms = {settings} }} }}

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    return
  end
  if KSR.is_MESSAGE() and (KSR.pv.get("$rz") == "tel"
                           or KSR.pv.get("$rd") == "sms.example.com") then
    KSR.pv.sets("$du", "sip:127.0.0.1:{gw_port}")
    KSR.tm.t_on_failure("sms_failed")
  else
    KSR.pv.sets("$du", "sip:127.0.0.1:{uas_port}")
  end
  if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

-- A proxy turns a forwarded 503 into 500 (RFC 3261 §16.7 step 6); the gateway's 503
-- means "the SMSC is busy, send it again later", so the script says that itself.
function sms_failed()
  if KSR.pv.get("$T_reply_code") == 503 then
    KSR.hdr.append_to_reply("Retry-After: {retry_after}\\r\\n")
    KSR.tm.t_reply(503, "SMS Centre Busy")
  end
end
"""


def lua(value: object) -> str:
    """A JSON-like value as a Lua table constructor."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"[{json.dumps(str(k))}] = {lua(v)}"
                                for k, v in value.items()) + " }"
    return json.dumps(value)


@pytest.fixture
def sms_proxy(start, free_port, tmp_path):
    """Returns make(connector, **settings) -> (server, core_port, uas_port): geosip run
    with the SMS gateway enabled, once the gateway is up."""
    def make(connector: str, section: dict, *args: str, **extra) -> tuple:
        core, gw, uas = free_port(), free_port(), free_port()
        settings = {"listen": f"127.0.0.1:{gw}", "proxy": f"127.0.0.1:{core}",
                    "domain": "sms.example.com", "numbers": {ALICE_NUMBER: ALICE},
                    "retry_after": 9, "connector": connector, connector: section, **extra}
        script = tmp_path / "sms.lua"
        script.write_text(SCRIPT.format(settings=lua(settings), gw_port=gw, uas_port=uas,
                                        retry_after=settings["retry_after"]))
        server = start("-c", str(script), "-l", f"udp:127.0.0.1:{core}", *args)
        server.wait_for("geosip ready")
        server.wait_for("SMS gateway on")
        return server, core, uas

    return make


def scenario(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def send(sipp, tmp_path, free_port, core: int, to: str, text: str, name: str = "uac"):
    """One MESSAGE from alice to `to` through geosip: sipp's result."""
    fields = tmp_path / f"{name}.csv"
    fields.write_text(f"SEQUENTIAL\n{to};{text}\n")
    uac = sipp(name, scenario(tmp_path, "uac.xml", UAC), port=free_port(),
               proxy=f"127.0.0.1:{core}", remote=f"127.0.0.1:{core}",
               extra=["-inf", str(fields)])
    return uac.run()


def test_smpp_both_ways_and_throttling(sms_proxy, sipp, tmp_path, free_port):
    http, snmp = free_port(), free_port()  # /metrics, the SNMP agent (community public)
    with Smsc() as smsc:
        server, core, uas_port = sms_proxy("smpp", {
            "host": smsc.host, "port": smsc.port, "system_id": "geosip", "password": "pw",
            "reconnect": 0.5}, "--rpc-http", f"127.0.0.1:{http}",
            "--snmp", f"127.0.0.1:{snmp}")
        smsc.wait_bound()

        # MT: MESSAGE -> submit_sm, 202 once the SMSC said ROK.
        result = send(sipp, tmp_path, free_port, core, f"sip:{PHONE}@sms.example.com",
                      "Hello from SIP")
        assert [m.status for m in result.received() if m.is_response and m.status >= 200] \
            == [202], result.report()
        (pdu,) = smsc.pdus("submit_sm")
        assert (pdu.source_addr, pdu.source_addr_ton) == (b"447700900001", 1)
        assert (pdu.destination_addr, pdu.dest_addr_ton) == (b"447700900123", 1)
        assert (pdu.data_coding, pdu.short_message) == (0, b"Hello from SIP\r\n")  # sipp ends the body with CRLF

        # Throttled: 503 with Retry-After at the sender; its retry goes through.
        smsc.refuse(c.SMPP_ESME_RTHROTTLED)
        result = send(sipp, tmp_path, free_port, core, f"tel:{PHONE}", "again", "throttled")
        (refused,) = result.received(status=503)
        assert refused.header("Retry-After") == ["9"]
        result = send(sipp, tmp_path, free_port, core, f"tel:{PHONE}", "again", "retry")
        assert result.received(status=202), result.report()
        assert [p.short_message for p in smsc.pdus("submit_sm")][1:] == [b"again\r\n"] * 2

        # MO in two UCS-2 parts -> one MESSAGE to alice's phone (a sipp UAS).
        uas = sipp("uas", scenario(tmp_path, "uas.xml", UAS), port=uas_port).start()
        uas.wait_listening()
        text = "Привет из телефона! " * 5
        encoded = text.encode("utf-16-be")
        half = len(encoded) // 2
        seqs = [smsc.deliver("+4930123", ALICE_NUMBER,
                             bytes((5, 0, 3, 77, 2, i + 1)) + part, data_coding=8,
                             esm_class=0x40)
                for i, part in enumerate((encoded[:half], encoded[half:]))]
        got = uas.wait()
        assert [smsc.wait_delivered(s) for s in seqs] == [0, 0]
        (message,) = got.received("MESSAGE")
        assert message.uri == ALICE
        assert "sip:+4930123@sms.example.com" in message.header("From")[0]
        assert text in message.text

        # what the operator sees: 3 MESSAGEs in, 2 SMS submitted, 1 throttled, 1 SMS
        # delivered to SIP; bound, never re-bound
        wait_for_statistics(tmp_path, {
            "gateway:sms_sip_received": 3, "gateway:sms_submitted": 2,
            "gateway:sms_submit_failed": 1, "gateway:sms_throttled": 1,
            "gateway:sms_delivered_in": 1, "gateway:sms_deliver_failed": 0,
            "gateway:sms_sip_sent": 1, "gateway:sms_receipts": 0,
            "gateway:sms_bound": 1, "gateway:sms_reconnects": 0, "gateway:sms_up": 1})
        metrics = prometheus("127.0.0.1", http)
        assert metrics["geosip_gateway_sms_submitted"] == ("gauge", 2)
        assert metrics["geosip_gateway_sms_bound"] == ("gauge", 1)
        # GEOSIP-MIB geosipGatewayTable row 1 (the only gateway): name, state up,
        # SipIn 3, SipOut 1, link up (the agent polls the core once a second)
        assert gateway_row(f"udp:127.0.0.1:{snmp}") == \
            ['STRING: "sms"', "INTEGER: 1", "Counter32: 3", "Counter32: 1", "INTEGER: 1"]
        server.stop()


def gateway_row(agent: str) -> list[str]:
    """snmpget (numeric OIDs) of geosipGatewayName/State/SipIn/SipOut/Link.1, once the
    agent serves the SipIn column."""
    oids = [f".1.3.6.1.4.1.99999.1.7.1.{column}.1" for column in range(2, 7)]
    deadline = time.monotonic() + 10
    while True:
        done = subprocess.run(["snmpget", "-m", "", "-v2c", "-c", "public", "-Ov", "-t",
                               "2", "-r", "1", agent, *oids],
                              capture_output=True, text=True, timeout=30)
        values = done.stdout.splitlines()
        served = done.returncode == 0 and "Counter32" in values[2]
        if served or time.monotonic() > deadline:
            return values
        time.sleep(0.5)


def test_kannel_both_ways(sms_proxy, sipp, tmp_path, free_port):
    get_port = free_port()
    get_url = f"http://127.0.0.1:{get_port}/mo?from=%p&to=%P&text=%b&charset=%C"
    with Kannel(tmp_path, get_url=get_url, ports=free_port) as kannel:
        server, core, uas_port = sms_proxy("kannel", {
            "sendsms_url": kannel.sendsms_url, "username": USER, "password": PASSWORD,
            "listen": f"127.0.0.1:{get_port}"})
        uas = sipp("uas", scenario(tmp_path, "uas.xml", UAS), port=uas_port).start()
        uas.wait_listening()
        # MO: fakesmsc -> bearerbox -> smsbox -> get-url -> gateway -> geosip -> sipp.
        handset = kannel.handset("+4930123 +447700900001 text hello from the handset")
        got = uas.wait()
        (message,) = got.received("MESSAGE")
        assert message.uri == ALICE
        assert "sip:+4930123@sms.example.com" in message.header("From")[0]
        assert "hello from the handset" in message.text

        # MT: sipp -> geosip -> gateway -> sendsms -> bearerbox -> fakesmsc.
        result = send(sipp, tmp_path, free_port, core, f"sip:{PHONE}@sms.example.com",
                      "reply from SIP")
        assert result.received(status=202), result.report()
        line = handset.wait_for("Got message")
        assert f"<{ALICE_NUMBER} {PHONE} text reply from SIP" in line, line
        wait_for_statistics(tmp_path, {
            "gateway:sms_delivered_in": 1, "gateway:sms_sip_received": 1,
            "gateway:sms_submitted": 1, "gateway:sms_submit_failed": 0,
            "gateway:sms_bound": 1})
        server.stop()
