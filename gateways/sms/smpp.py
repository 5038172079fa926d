"""SMPP 3.4 connector: the gateway is an ESME bound as transceiver to one SMSC.

PDUs are encoded and decoded by smpplib (smpplib.smpp.make_pdu/parse_pdu); the session
runs on asyncio streams here, because smpplib's Client is a blocking socket loop.

Session (SMPP 3.4 §2.2, §2.3): connect, bind_transceiver, then requests both ways over
one TCP connection. submit_sm (one per part, encoding.split) waits for its
submit_sm_resp up to `submit_timeout`; enquire_link every `enquire_link` seconds, and a
connection whose enquire_link gets no answer is dropped. A lost or refused session is
retried every `reconnect` seconds; meanwhile submits are refused 503 (errors.py).

Inbound deliver_sm (§4.6.1): a delivery receipt (esm_class bits 2-5 = 0001, §5.2.12)
goes to SmsGateway.receipt; a short message (joined first when it is one part of a
concatenated SMS, encoding.Reassembler) to SmsGateway.deliver. deliver_sm_resp is sent
after the SIP outcome: ROK on 2xx, ESME_RINVDSTADR for a number nobody has, else
ESME_RX_T_APPN, a temporary error after which the SMSC delivers again (§5.1.3).
Parts before the last are acknowledged at once (held in memory until the last).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import struct
from typing import Any

from smpplib import consts as c
from smpplib import smpp

from . import encoding
from .errors import SubmitError, from_smpp

log = logging.getLogger("geosip.gateways.sms.smpp")

_STAT_RE = re.compile(rb"\bid:(\S+).*?\bstat:(\w+)", re.S | re.I)
_DELIVERED = {"DELIVRD"}
_RECEIPT = 0x04  # esm_class message type: SMSC delivery receipt (SMPP 3.4 §5.2.12)
_MAX_PDU = 64 * 1024


class SmppConnector:
    """See the module doc. `cfg` is settings.SMPP; `gateway` the SmsGateway."""

    def __init__(self, cfg: dict[str, Any], gateway: Any, *, retry_after: int,
                 receipts: bool) -> None:
        self.cfg = cfg
        self.gateway = gateway
        self.retry_after = retry_after
        self.receipts = receipts
        self.sequence = 0  # smpplib asks its "client" for sequence numbers
        self.binds = 0     # sessions bound; the ones after the first are reconnects
        self._writer: asyncio.StreamWriter | None = None
        self._bound = asyncio.Event()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._refs = itertools.count(random.randrange(256))
        self._parts = encoding.Reassembler()

    def next_sequence(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1  # §3.2: 0x00000001-0x7FFFFFFF
        return self.sequence

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    @property
    def reconnects(self) -> int:
        return max(self.binds - 1, 0)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep_session())

    async def close(self) -> None:
        if self._writer is not None and self.bound:
            try:
                await asyncio.wait_for(self._call("unbind"), 1)
            except Exception:
                pass
        for task in [self._task, *self._tasks]:
            if task is not None:
                task.cancel()
        self._drop()

    # ---- MT ----------------------------------------------------------------------------

    async def submit(self, source: str, dest: str, text: str) -> list[str]:
        if not self.bound:
            raise SubmitError(503, "SMSC not connected", self.retry_after)
        try:
            coding, esm_class, parts = encoding.split(text, next(self._refs) % 256)
        except encoding.MessageTooLong:
            raise SubmitError(513, "Message Too Long For SMS") from None
        ids = []
        for part in parts:
            resp = await self._call(
                "submit_sm",
                **_address("source_addr", source), **_address("dest_addr", dest),
                esm_class=esm_class, data_coding=coding, short_message=part,
                registered_delivery=1 if self.receipts else 0)
            if resp.status != c.SMPP_ESME_ROK:
                raise from_smpp(resp.status, self.retry_after)
            ids.append(_text(resp.message_id))
        return ids

    async def _call(self, command: str, **fields: Any) -> Any:
        """Send a request PDU and return its response PDU; SubmitError 503 when the
        session drops, 504 when the SMSC does not answer in time."""
        writer = self._writer
        if writer is None:
            raise SubmitError(503, "SMSC not connected", self.retry_after)
        pdu = smpp.make_pdu(command, client=self, **fields)
        future = asyncio.get_running_loop().create_future()
        self._pending[pdu.sequence] = future
        try:
            writer.write(pdu.generate())
            return await asyncio.wait_for(future, self.cfg["submit_timeout"])
        except asyncio.TimeoutError:
            raise SubmitError(504, "SMSC Did Not Answer") from None
        finally:
            self._pending.pop(pdu.sequence, None)

    # ---- session -----------------------------------------------------------------------

    async def _keep_session(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.IncompleteReadError, SubmitError) as exc:
                log.warning("SMPP session with %s:%s: %s", self.cfg["host"],
                            self.cfg["port"], exc)
            except Exception:
                log.exception("SMPP session failed")
            self._drop()
            await asyncio.sleep(self.cfg["reconnect"])

    async def _session(self) -> None:
        reader, writer = await asyncio.open_connection(self.cfg["host"], self.cfg["port"])
        self._writer = writer
        loop = asyncio.get_running_loop()
        reading = loop.create_task(self._read(reader))
        try:
            resp = await self._call("bind_transceiver", system_id=self.cfg["system_id"],
                                    password=self.cfg["password"],
                                    system_type=self.cfg["system_type"],
                                    interface_version=0x34)
            if resp.status != c.SMPP_ESME_ROK:
                raise SubmitError(503, f"bind refused: 0x{resp.status:08X}")
            self._bound.set()
            self.binds += 1
            log.info("SMPP bound as transceiver to %s:%s", self.cfg["host"], self.cfg["port"])
            while not reading.done():
                done, _ = await asyncio.wait({reading}, timeout=self.cfg["enquire_link"])
                if not done:
                    await self._call("enquire_link")  # 504 from _call ends the session
            reading.result()
        finally:
            reading.cancel()

    def _drop(self) -> None:
        self._bound.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SubmitError(503, "SMSC connection lost", self.retry_after))
        self._pending.clear()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            head = await reader.readexactly(4)
            (length,) = struct.unpack(">L", head)
            if not 16 <= length <= _MAX_PDU:
                raise OSError(f"PDU length {length} out of range")
            data = head + await reader.readexactly(length - 4)
            try:
                pdu = smpp.parse_pdu(data, client=self)
            except Exception as exc:
                log.warning("undecodable PDU (%s): generic_nack", exc)
                seq = struct.unpack(">L", data[12:16])[0]
                self._respond("generic_nack", seq, c.SMPP_ESME_RINVCMDID)
                continue
            self._on_pdu(pdu)

    def _on_pdu(self, pdu: Any) -> None:
        if pdu.is_response() or pdu.command == "generic_nack":
            future = self._pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
        elif pdu.command == "enquire_link":
            self._respond("enquire_link_resp", pdu.sequence)
        elif pdu.command == "unbind":
            self._respond("unbind_resp", pdu.sequence)
            raise OSError("the SMSC unbound")
        elif pdu.command == "deliver_sm":
            task = asyncio.get_running_loop().create_task(self._on_deliver(pdu))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._respond("generic_nack", pdu.sequence, c.SMPP_ESME_RINVCMDID)

    def _respond(self, command: str, sequence: int, status: int = c.SMPP_ESME_ROK,
                 **fields: Any) -> None:
        if self._writer is None:
            return
        pdu = smpp.make_pdu(command, client=self, status=status, **fields)
        pdu.sequence = sequence  # smpplib ignores a sequence= argument (its client's wins)
        pdu.status = status
        self._writer.write(pdu.generate())

    async def _on_deliver(self, pdu: Any) -> None:
        status = c.SMPP_ESME_ROK
        try:
            if pdu.esm_class & 0x3C == _RECEIPT:
                await self._on_receipt(pdu)
            else:
                status = await self._on_sms(pdu)
        except Exception:
            log.exception("deliver_sm failed")
            status = c.SMPP_ESME_RX_T_APPN
        self._respond("deliver_sm_resp", pdu.sequence, status)

    async def _on_sms(self, pdu: Any) -> int:
        source = _number(pdu.source_addr, pdu.source_addr_ton)
        dest = _number(pdu.destination_addr, pdu.dest_addr_ton)
        text, concat = encoding.decode(pdu.data_coding or 0, pdu.esm_class or 0,
                                       pdu.short_message or b"")
        if concat is not None:
            whole = self._parts.add(source, concat, text, asyncio.get_running_loop().time())
            if whole is None:
                return c.SMPP_ESME_ROK
            text = whole
        sip = await self.gateway.deliver(source, dest, text)
        if 200 <= sip < 300:
            return c.SMPP_ESME_ROK
        if sip == 404:
            return c.SMPP_ESME_RINVDSTADR
        return c.SMPP_ESME_RX_T_APPN

    async def _on_receipt(self, pdu: Any) -> None:
        # Appendix B: "id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:... stat:DDDDDDD ..."
        found = _STAT_RE.search(pdu.short_message or b"")
        mid = _text(getattr(pdu, "receipted_message_id", None) or b"")
        stat = ""
        if found is not None:
            mid = mid or _text(found.group(1))
            stat = _text(found.group(2)).upper()
        if mid:
            await self.gateway.receipt(mid, stat in _DELIVERED, stat or "UNKNOWN")


def _address(prefix: str, number: str) -> dict[str, Any]:
    """TON/NPI and digits (SMPP 3.4 §5.2.5, §5.2.6): international/ISDN for '+...'."""
    ton_key = "source_addr" if prefix == "source_addr" else "dest_addr"
    field = "source_addr" if prefix == "source_addr" else "destination_addr"
    if number.startswith("+"):
        return {f"{ton_key}_ton": 1, f"{ton_key}_npi": 1, field: number[1:]}
    return {f"{ton_key}_ton": 0, f"{ton_key}_npi": 1, field: number}


def _number(addr: bytes | str | None, ton: int | None) -> str:
    digits = _text(addr or b"")
    return "+" + digits if ton == 1 and not digits.startswith("+") else digits


def _text(value: bytes | str) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value
