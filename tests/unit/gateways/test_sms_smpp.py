"""The SMS gateway over SMPP, in one process: SmsGateway + SmppConnector against the
SMSC simulator (tests/support/smsc.py), a SipUA playing the core on both sides.
What is asserted is what crosses the wire: the submit_sm fields, the SIP answers and
the MESSAGEs the gateway sends. The same flows through `geosip run` and sipp are in
tests/integration/test_sms_smpp.py."""

from __future__ import annotations

import asyncio

from smpplib import consts as c

from geosip.gateways.sipua import SipUA
from geosip.sip.outgoing import new_request
from geosip.gateways.sms import encoding
from geosip.gateways.sms.__main__ import make_connector
from geosip.gateways.sms.gateway import SmsGateway
from geosip.gateways.sms.settings import Settings
from geosip.sip import Request
from tests.support.smsc import Smsc

ALICE = "sip:alice@example.com"
ALICE_NUMBER = "+447700900001"


def settings(smsc: Smsc, core_port: int, **extra) -> Settings:
    return Settings.from_dict({
        "listen": "127.0.0.1:0", "proxy": f"127.0.0.1:{core_port}",
        "domain": "sms.example.com", "numbers": {ALICE_NUMBER: ALICE},
        "retry_after": 7, "connector": "smpp",
        "smpp": {"host": smsc.host, "port": smsc.port, "system_id": "gw", "password": "pw",
                 "enquire_link": 5, "submit_timeout": 3, "reconnect": 0.2},
        **extra})


def scenario(body, **extra):
    """Run `body(gw, core, smsc, inbox)` with a gateway bound to a fresh SMSC; `core`
    is a SipUA standing where geosip would, `inbox` the MESSAGEs the gateway sent it."""
    async def main():
        inbox: asyncio.Queue[Request] = asyncio.Queue()

        async def core_handler(request, addr):
            await inbox.put(request)
            return request.make_response(200)

        with Smsc() as smsc:
            core = SipUA("127.0.0.1", 0, handler=core_handler)
            await core.start()
            gw = SmsGateway(settings(smsc, core.port, **extra))
            await gw.start(make_connector(gw.settings, gw))
            core.proxy = ("127.0.0.1", gw.ua.port)
            await asyncio.to_thread(smsc.wait_bound)
            try:
                return await asyncio.wait_for(body(gw, core, smsc, inbox), 20)
            finally:
                await gw.close()
                core.close()

    return asyncio.run(main())


def message(to: str, text: str, sender: str = ALICE) -> Request:
    return new_request("MESSAGE", to, sender, body=text.encode(),
                       content_type="text/plain;charset=UTF-8")


def test_message_becomes_one_submit_sm_and_202():
    async def body(gw, core, smsc, inbox):
        resp = await core.request(message("sip:+447700900123@sms.example.com", "Hello ü"))
        return resp, smsc.pdus("submit_sm"), smsc.pdus("bind_transceiver")

    resp, submits, binds = scenario(body)
    assert resp.status == 202
    assert binds[0].system_id == b"gw" and binds[0].password == b"pw"
    (pdu,) = submits
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == (b"447700900001", 1, 1)
    assert (pdu.destination_addr, pdu.dest_addr_ton) == (b"447700900123", 1)
    assert (pdu.data_coding, pdu.esm_class) == (0, 0)
    assert pdu.short_message == b"Hello \x7e"  # GSM 03.38: u-umlaut is 0x7E
    assert pdu.registered_delivery == 0


def test_long_unicode_message_goes_as_ucs2_parts_with_one_reference():
    text = "Привет из SIP! " * 10  # 150 characters, UCS-2: 3 parts

    async def body(gw, core, smsc, inbox):
        resp = await core.request(message("tel:+447700900123", text))
        return resp, smsc.pdus("submit_sm")

    resp, submits = scenario(body)
    assert resp.status == 202
    assert len(submits) == 3
    udhs = [p.short_message[:6] for p in submits]
    assert {u[:3] for u in udhs} == {b"\x05\x00\x03"}        # 8-bit reference concat IE
    assert len({u[3] for u in udhs}) == 1                     # one reference
    assert [(u[4], u[5]) for u in udhs] == [(3, 1), (3, 2), (3, 3)]
    assert all(p.data_coding == 8 and p.esm_class == 0x40 for p in submits)
    joined = b"".join(p.short_message[6:] for p in submits).decode("utf-16-be")
    assert joined == text


def test_throttled_is_503_with_retry_after_and_the_retry_gets_through():
    async def body(gw, core, smsc, inbox):
        smsc.refuse(c.SMPP_ESME_RTHROTTLED)
        first = await core.request(message("sip:+447700900123@sms.example.com", "one"))
        second = await core.request(message("sip:+447700900123@sms.example.com", "one"))
        return first, second, smsc.pdus("submit_sm")

    first, second, submits = scenario(body)
    assert first.status == 503 and first.header("Retry-After") == "7"
    assert second.status == 202
    assert [p.short_message for p in submits] == [b"one", b"one"]


def test_refusals_and_local_checks_map_to_sip_codes():
    async def body(gw, core, smsc, inbox):
        smsc.refuse(c.SMPP_ESME_RINVDSTADR, c.SMPP_ESME_RSUBMITFAIL)
        out = []
        for to, sender in [("sip:+447700900999@sms.example.com", ALICE),   # 404
                           ("sip:+447700900999@sms.example.com", ALICE),   # 502
                           ("sip:alice@sms.example.com", ALICE),           # 484
                           ("sip:+447700900123@sms.example.com", "sip:eve@example.com")]:
            out.append((await core.request(message(to, "x", sender))).status)
        return out

    assert scenario(body) == [404, 502, 484, 403]


def test_smsc_down_is_503_and_the_session_comes_back():
    async def body(gw, core, smsc, inbox):
        smsc.drop()
        await asyncio.sleep(0.1)
        down = await core.request(message("tel:+447700900123", "x"))
        await asyncio.to_thread(smsc.wait_bound)
        up = await core.request(message("tel:+447700900123", "x"))
        return down, up

    down, up = scenario(body)
    assert down.status == 503 and down.header("Retry-After") == "7"
    assert up.status == 202


def test_inbound_parts_are_joined_into_one_message_to_the_mapped_user():
    async def body(gw, core, smsc, inbox):
        text = "Grüße vom Handy, " * 10
        _, esm, parts = encoding.split(text, 9)
        seqs = [await asyncio.to_thread(smsc.deliver, "+4930123", ALICE_NUMBER, p,
                                        esm_class=esm) for p in parts]
        got = await inbox.get()
        statuses = [await asyncio.to_thread(smsc.wait_delivered, s) for s in seqs]
        unknown = await asyncio.to_thread(smsc.deliver, "+4930123", "+4900000", b"x")
        return text, got, statuses, await asyncio.to_thread(smsc.wait_delivered, unknown)

    text, got, statuses, unknown = scenario(body)
    assert got.method == "MESSAGE" and got.uri_text == ALICE
    assert str(got.from_.uri) == "sip:+4930123@sms.example.com"
    assert got.body.decode() == text
    assert statuses == [0, 0]
    assert unknown == c.SMPP_ESME_RINVDSTADR


def test_delivery_receipt_comes_back_to_the_sender_as_a_message():
    async def body(gw, core, smsc, inbox):
        resp = await core.request(message("sip:+447700900123@sms.example.com", "ping"))
        (pdu,) = smsc.pdus("submit_sm")
        await asyncio.to_thread(smsc.receipt, "msg1", "DELIVRD")
        return resp, pdu, await inbox.get()

    resp, pdu, note = scenario(body, receipts="message")
    assert resp.status == 202 and pdu.registered_delivery == 1
    assert note.uri_text == ALICE
    assert str(note.from_.uri) == "sip:+447700900123@sms.example.com"
    assert note.body == b"SMS to +447700900123 delivered"
