"""SMS payloads: GSM 03.38 7-bit or UCS-2, split into concatenated parts and joined back.

Outbound. `split(text, ref)` picks data_coding 0 (the GSM 03.38 default alphabet, one
septet per octet as SMPP carries it unpacked, the SMSC packs) when every character is in
the default alphabet or its extension table, else data_coding 8 (UCS-2, UTF-16-BE).
A text over one SMS (160 septets / 140 octets) is cut at character boundaries, never
inside an escape sequence or a surrogate pair, into parts of 153 septets / 134 octets,
each behind a 6-octet UDH with the 8-bit reference concatenation IE (3GPP TS 23.040
§9.2.3.24.1: 05 00 03 ref total seq), and esm_class gets UDHI (0x40, SMPP 3.4 §5.2.12).

Inbound. `decode(data_coding, esm_class, short_message)` strips a UDH (8-bit or 16-bit
reference concatenation IEs, TS 23.040 §9.2.3.24.1/.8) and decodes the text; a
`Reassembler` joins parts by (sender, reference, total) in sequence order.

Raises MessageTooLong from `split` for a text that would need more than 255 parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from smpplib.gsm import GSM_CHARACTER_TABLE, gsm_encode

DC_GSM = 0x00
DC_IA5 = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08
UDHI = 0x40

_SINGLE = {DC_GSM: 160, DC_UCS2: 140}  # septets / octets in one SMS (TS 23.040 §9.2.3.16)
_UDH_LEN = 6  # 05 00 03 ref total seq
_PART = {DC_GSM: 153, DC_UCS2: 134}  # what is left beside the UDH (7 septets / 6 octets)


class MessageTooLong(ValueError):
    """More than 255 parts: the 8-bit concatenation IE cannot number them."""


def _units(text: str) -> tuple[int, list[bytes]]:
    """The data coding and each character's encoding (1-2 septets or 2-4 octets)."""
    try:
        return DC_GSM, [gsm_encode(ch) for ch in text]
    except UnicodeError:
        return DC_UCS2, [ch.encode("utf-16-be") for ch in text]


def split(text: str, ref: int) -> tuple[int, int, list[bytes]]:
    """(data_coding, esm_class, short_message of each part) for `text`; `ref` is the
    concatenation reference (0-255) used when it takes more than one SMS."""
    coding, units = _units(text)
    whole = b"".join(units)
    if len(whole) <= _SINGLE[coding]:
        return coding, 0, [whole]
    chunks: list[bytes] = []
    current = b""
    for unit in units:
        if len(current) + len(unit) > _PART[coding]:
            chunks.append(current)
            current = b""
        current += unit
    chunks.append(current)
    if len(chunks) > 255:
        raise MessageTooLong(f"{len(chunks)} parts")
    head = bytes((0x05, 0x00, 0x03, ref & 0xFF, len(chunks)))
    return coding, UDHI, [head + bytes((i,)) + chunk for i, chunk in enumerate(chunks, 1)]


def gsm_decode(data: bytes) -> str:
    """GSM 03.38 unpacked septets to text (0x1B escapes into the extension table)."""
    out = []
    escape = False
    for octet in data:
        if escape:
            escape = False
            ch = GSM_CHARACTER_TABLE[0x80 + octet] if octet < 0x80 else "`"
            out.append(" " if ch == "`" else ch)  # unassigned extension: TS 23.038 says space
        elif octet == 0x1B:
            escape = True
        else:
            out.append(GSM_CHARACTER_TABLE[octet & 0x7F])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Concat:
    """Where a part belongs: its message's reference, the number of parts, its number."""

    ref: int
    total: int
    seq: int


def decode(data_coding: int, esm_class: int, short_message: bytes) -> tuple[str, Concat | None]:
    """The text of one received SMS part and its concatenation IE (None when whole)."""
    concat = None
    body = short_message
    if esm_class & UDHI and short_message:
        udhl = short_message[0]
        udh = short_message[1:1 + udhl]
        body = short_message[1 + udhl:]
        pos = 0
        while pos + 2 <= len(udh):
            iei, length = udh[pos], udh[pos + 1]
            value = udh[pos + 2:pos + 2 + length]
            if iei == 0x00 and length == 3:
                concat = Concat(value[0], value[1], value[2])
            elif iei == 0x08 and length == 4:
                concat = Concat((value[0] << 8) | value[1], value[2], value[3])
            pos += 2 + length
    coding = data_coding & 0x0F if data_coding & 0xF0 == 0xF0 else data_coding
    if coding == DC_UCS2:
        text = body.decode("utf-16-be", "replace")
    elif coding == DC_GSM:
        text = gsm_decode(body)
    elif coding == DC_IA5:
        text = body.decode("ascii", "replace")
    else:
        text = body.decode("latin-1")
    if concat is not None and (concat.total < 2 or not 1 <= concat.seq <= concat.total):
        concat = None  # a malformed IE: deliver the part as it is
    return text, concat


class Reassembler:
    """Joins concatenated parts. `add` returns the whole text once every part is in, else
    None. Parts of a message never completed are dropped after `max_age` seconds."""

    def __init__(self, max_age: float = 600.0) -> None:
        self.max_age = max_age
        self._pending: dict[tuple[str, int, int], tuple[float, dict[int, str]]] = {}

    def add(self, sender: str, concat: Concat, text: str, now: float) -> str | None:
        for key in [k for k, (t, _) in self._pending.items() if now - t > self.max_age]:
            del self._pending[key]
        key = (sender, concat.ref, concat.total)
        _, parts = self._pending.setdefault(key, (now, {}))
        parts[concat.seq] = text
        if len(parts) < concat.total:
            return None
        del self._pending[key]
        return "".join(parts[i] for i in range(1, concat.total + 1))
