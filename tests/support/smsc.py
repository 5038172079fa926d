"""An SMSC simulator for the SMS gateway's tests: SMPP 3.4 server side on smpplib's PDU
codec (no SMPP server is packaged in Debian, STACK-NOTES.md §7).

    with Smsc() as smsc:                 # listens on 127.0.0.1:<free port>
        smsc.wait_bound()                # an ESME sent bind_transceiver (answered ROK)
        smsc.refuse(0x58)                # the next submit_sm is answered ESME_RTHROTTLED
        pdus = smsc.wait_submits(2)      # submit_sm PDUs as received (smpplib objects)
        smsc.deliver("+4930123", "+447700900001", b"hi")   # deliver_sm to the ESME
        smsc.receipt(message_id, "DELIVRD")                # a delivery receipt

One ESME at a time, handled by a thread; every PDU received is kept in `received`
(parsed) with its raw bytes, so tests assert what went over the wire. submit_sm gets
message ids "msg1", "msg2", ...; deliver_sm_resp statuses are kept in `delivered`.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any

from smpplib import consts as c
from smpplib import smpp


class Smsc:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listen = socket.create_server((host, port))
        self.host, self.port = self._listen.getsockname()[:2]
        self.sequence = 0
        self.received: list[tuple[Any, bytes]] = []
        self.delivered: dict[int, int] = {}  # our deliver_sm sequence -> resp status
        self.bound = threading.Event()
        self._refusals: list[int] = []
        self._ids = 0
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # smpplib asks its "client" for sequence numbers
    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def __enter__(self) -> "Smsc":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop = True
        self.drop()
        self._listen.close()

    def drop(self) -> None:
        """Close the ESME's connection (an SMSC outage)."""
        self.bound.clear()
        if self._conn is not None:
            try:
                self._conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- what the test asks ----------------------------------------------------------

    def refuse(self, *statuses: int) -> None:
        """Answer the next submit_sm PDUs with these command_status values."""
        with self._lock:
            self._refusals.extend(statuses)

    def wait_bound(self, timeout: float = 10.0) -> None:
        if not self.bound.wait(timeout):
            raise AssertionError("no ESME bound to the SMSC simulator")

    def pdus(self, command: str) -> list[Any]:
        with self._lock:
            return [p for p, _ in self.received if p.command == command]

    def wait_submits(self, count: int, timeout: float = 10.0) -> list[Any]:
        """Until `count` submit_sm have arrived; all of them, in order."""
        self._wait(lambda: len(self.pdus_unlocked("submit_sm")) >= count, timeout,
                   f"{count} submit_sm")
        return self.pdus("submit_sm")

    def pdus_unlocked(self, command: str) -> list[Any]:
        return [p for p, _ in self.received if p.command == command]

    def wait_delivered(self, sequence: int, timeout: float = 10.0) -> int:
        """The command_status of the ESME's deliver_sm_resp to our deliver_sm."""
        self._wait(lambda: sequence in self.delivered, timeout,
                   f"deliver_sm_resp to {sequence}")
        return self.delivered[sequence]

    def deliver(self, source: str, dest: str, short_message: bytes, *,
                data_coding: int = 0, esm_class: int = 0, **fields: Any) -> int:
        """Send a deliver_sm (numbers with '+' go as TON international); its sequence."""
        return self._send("deliver_sm", **_addr("source_addr", source),
                          **_addr("dest_addr", dest), short_message=short_message,
                          data_coding=data_coding, esm_class=esm_class, **fields)

    def receipt(self, message_id: str, stat: str, source: str = "+447700900123",
                dest: str = "+447700900001") -> int:
        """A delivery receipt (esm_class 0x04, SMPP 3.4 Appendix B text)."""
        text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2501010000 "
                f"done date:2501010001 stat:{stat} err:000 text:").encode()
        return self.deliver(source, dest, text, esm_class=0x04,
                            receipted_message_id=message_id)

    # ---- the connection --------------------------------------------------------------

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"SMSC simulator: no {what}; got "
                                         f"{[p.command for p, _ in self.received]}")
                self._changed.wait(left)

    def _send(self, command: str, sequence: int | None = None, status: int = 0,
              **fields: Any) -> int:
        pdu = smpp.make_pdu(command, client=self, **fields)
        if sequence is not None:
            pdu.sequence = sequence  # smpplib ignores sequence= (its client's wins)
        pdu.status = status
        conn = self._conn
        if conn is None:
            raise AssertionError("no ESME connected")
        conn.sendall(pdu.generate())
        return int(pdu.sequence)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._listen.accept()
            except OSError:
                return
            self._conn = conn
            try:
                self._read(conn)
            except OSError:
                pass
            finally:
                self.bound.clear()
                self._conn = None
                conn.close()

    def _read(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            while len(buf) < 4 or len(buf) < struct.unpack(">L", buf[:4])[0]:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            length = struct.unpack(">L", buf[:4])[0]
            raw, buf = buf[:length], buf[length:]
            pdu = smpp.parse_pdu(raw, client=self)
            with self._changed:
                self.received.append((pdu, raw))
                self._changed.notify_all()
            self._answer(pdu)

    def _answer(self, pdu: Any) -> None:
        command = pdu.command
        if command == "bind_transceiver":
            self._send("bind_transceiver_resp", pdu.sequence, system_id="smsc-sim")
            self.bound.set()
        elif command == "enquire_link":
            self._send("enquire_link_resp", pdu.sequence)
        elif command == "unbind":
            self._send("unbind_resp", pdu.sequence)
        elif command == "submit_sm":
            with self._lock:
                status = self._refusals.pop(0) if self._refusals else c.SMPP_ESME_ROK
                if status == c.SMPP_ESME_ROK:
                    self._ids += 1
            if status == c.SMPP_ESME_ROK:
                self._send("submit_sm_resp", pdu.sequence, message_id=f"msg{self._ids}")
            else:
                self._send("submit_sm_resp", pdu.sequence, status)
        elif command == "deliver_sm_resp":
            with self._changed:
                self.delivered[pdu.sequence] = pdu.status
                self._changed.notify_all()


def _addr(prefix: str, number: str) -> dict[str, Any]:
    field = "source_addr" if prefix == "source_addr" else "destination_addr"
    if number.startswith("+"):
        return {f"{prefix}_ton": 1, f"{prefix}_npi": 1, field: number[1:]}
    return {field: number}
