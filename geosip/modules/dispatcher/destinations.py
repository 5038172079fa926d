"""Destination sets: what the list file or the `dispatcher` table says, and each
destination's run-time state (Kamailio's dispatcher README §6.1).

List file lines: `setid destination [flags [priority [attrs [description]]]]`; `#`
starts a comment; fields are separated by white space (attrs hold none). Flags are
Kamailio's bits: 1 inactive, 2 trying, 4 disabled, 8 probing, 16 skip the DNS lookup
at load. Attributes are `name=value;...`; the special ones are duid, maxload, weight,
rweight, socket, ping_from, obproxy and latency (the initial latency estimate, ms).

Within a set destinations are ordered by priority, highest first, and destinations of
equal priority in the REVERSE of their order in the file (or the table's rows), as
Kamailio 5.6 indexes them: dispatch.c add_dest2list keeps the set's list in rising
priority with each new line after its equals, and reindex_dests copies that list into
the array backwards, so index 0 is the last line of the highest priority. The index
decides which destination the hash algorithms (hash % size) and round robin (from
index 0) pick, and what ds.list shows, so it must be Kamailio's for a script and a
list file to route calls the same way on both.

`build_sets` makes new sets from rows. A destination that was already loaded (same set
and URI, same configured flags) keeps its state, failure counters and latency, so a
reload does not reset what probing learnt; calls in progress keep their candidates in
their own context (select.py), so none is dropped by a reload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from geosip.sip import ParseError, SipUri, parse_uri

log = logging.getLogger("geosip.dispatcher")

# Kamailio's dispatch.h bits
INACTIVE = 1
TRYING = 2
DISABLED = 4
PROBING = 8
NODNSARES = 16
STATES = INACTIVE | TRYING | DISABLED | PROBING


class ListError(ValueError):
    """A list file line or table row that cannot be used (file:line: why)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One destination as configured (a list file line or a table row)."""

    setid: int
    uri: str
    flags: int = 0
    priority: int = 0
    attrs: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Attrs:
    body: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    duid: str = ""
    maxload: int = 0
    weight: int = 0
    rweight: int = 0
    socket: str = ""
    ping_from: str = ""
    obproxy: str = ""
    latency: int = 0


def _int_attr(values: Mapping[str, str], name: str) -> int:
    try:
        return int(values.get(name, "0"))
    except ValueError:
        return 0


def parse_attrs(body: str) -> Attrs:
    """`name=value;...` (a name alone has the value ""). weight and rweight outside
    1..100 count as 0, as Kamailio ignores them."""
    values: dict[str, str] = {}
    for item in body.split(";"):
        item = item.strip()
        if item:
            name, _, value = item.partition("=")
            values[name.strip()] = value.strip()
    weight, rweight = _int_attr(values, "weight"), _int_attr(values, "rweight")
    return Attrs(body=body, values=values, duid=values.get("duid", ""),
                 maxload=max(0, _int_attr(values, "maxload")),
                 weight=weight if 1 <= weight <= 100 else 0,
                 rweight=rweight if 1 <= rweight <= 100 else 0,
                 socket=values.get("socket", ""), ping_from=values.get("ping_from", ""),
                 obproxy=values.get("obproxy", ""),
                 latency=max(0, _int_attr(values, "latency")))


@dataclass(slots=True)
class Latency:
    """Probe round trips (ms): Kamailio's ds_latency_stats (average and standard
    deviation over every sample, an EWMA estimate, the maximum, timeouts)."""

    count: int = 0
    average: float = 0.0
    m2: float = 0.0      # Welford's sum of squared deviations
    estimate: float = 0.0
    max: int = 0
    timeout: int = 0

    def add(self, ms: float, alpha: float) -> None:
        self.count += 1
        delta = ms - self.average
        self.average += delta / self.count
        self.m2 += delta * (ms - self.average)
        self.estimate = ms if self.count == 1 and not self.estimate else \
            alpha * self.estimate + (1 - alpha) * ms
        self.max = max(self.max, int(ms))

    @property
    def stdev(self) -> float:
        return (self.m2 / (self.count - 1)) ** 0.5 if self.count > 1 else 0.0


class Destination:
    """A destination and its state. `flags` holds the configured bits at load and
    then the live state (state.py changes it); `failures` counts failed probes toward
    ds_probing_threshold, `successes` answered ones toward ds_inactive_threshold."""

    __slots__ = ("setid", "uri", "parsed", "configured", "flags", "priority", "attrs",
                 "description", "addresses", "failures", "successes", "latency", "index")

    def __init__(self, row: Row, parsed: SipUri, index: int) -> None:
        self.setid = row.setid
        self.uri = row.uri
        self.parsed = parsed
        self.configured = row.flags
        self.flags = row.flags & (STATES | NODNSARES)
        self.priority = row.priority
        self.attrs = parse_attrs(row.attrs)
        self.description = row.description
        self.addresses: list[tuple[str, str, int]] = []  # (proto, ip, port) from DNS
        self.failures = 0
        self.successes = 0
        self.latency = Latency(estimate=float(self.attrs.latency))
        self.index = index  # position in its set

    @property
    def usable(self) -> bool:
        """Selectable: neither inactive nor disabled (Kamailio's ds_skip_dst)."""
        return not self.flags & (INACTIVE | DISABLED)

    def __repr__(self) -> str:
        return f"<Destination {self.setid} {self.uri} flags={self.flags}>"


class DestSet:
    """One set: its destinations in priority order and the selection counters that
    Kamailio keeps per set (round robin position, the weight slots)."""

    __slots__ = ("setid", "dests", "rr", "wslots", "wlast", "rwslots", "rwkey", "rwlast",
                 "lrr")

    def __init__(self, setid: int, dests: list[Destination]) -> None:
        self.setid = setid
        self.dests = dests
        self.rr = 0          # alg 4: the next index
        self.wslots: list[int] = []  # alg 9: 100 slots of destination indexes
        self.wlast = 0
        self.rwslots: list[int] = []  # alg 11: rebuilt when the active set changes
        self.rwkey: tuple[int, ...] = ()
        self.rwlast = 0
        self.lrr = 0         # alg 13: round robin among the best


# ---- reading ---------------------------------------------------------------------------

def parse_line(line: str, where: str = "") -> Row | None:
    """A list file line; None for a blank or comment line. Raises ListError."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    fields = text.split(None, 5)
    if len(fields) < 2:
        raise ListError(f"{where}: needs a set id and a destination: {text[:80]!r}")
    try:
        setid = int(fields[0])
        flags = int(fields[2]) if len(fields) > 2 else 0
        priority = int(fields[3]) if len(fields) > 3 else 0
    except ValueError:
        raise ListError(f"{where}: set id, flags and priority are integers: "
                        f"{text[:80]!r}") from None
    return Row(setid, fields[1], flags, priority, fields[4] if len(fields) > 4 else "",
               fields[5] if len(fields) > 5 else "")


def parse_list(text: str, name: str = "list") -> list[Row]:
    """Every destination of a list file's text. Raises ListError at the first bad line."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        row = parse_line(line, f"{name}:{number}")
        if row is not None:
            rows.append(row)
    return rows


Resolver = Callable[[SipUri], list[tuple[str, str, int]]]


def build_sets(rows: Iterable[Row], old: Mapping[int, DestSet] | None = None,
               resolver: Resolver | None = None) -> dict[int, DestSet]:
    """Sets from rows. A row whose destination is not a SIP URI raises ListError
    (Kamailio's ds_load_mode 1: a list with a broken line is refused whole, so a
    reload with a typo keeps the sets in force). `resolver` gives a destination's
    addresses (for ds_is_from_list); a lookup that fails leaves them empty."""
    grouped: dict[int, list[tuple[int, Row, SipUri]]] = {}
    for n, row in enumerate(rows):
        try:
            parsed = parse_uri(row.uri)
        except ParseError as exc:
            raise ListError(f"set {row.setid}: bad destination {row.uri[:80]!r}: "
                            f"{exc.reason}") from None
        if not isinstance(parsed, SipUri):
            raise ListError(f"set {row.setid}: {row.uri[:80]!r} is not a SIP URI")
        grouped.setdefault(row.setid, []).append((n, row, parsed))
    previous = {(d.setid, d.uri): d for s in (old or {}).values() for d in s.dests}
    sets: dict[int, DestSet] = {}
    for setid, members in grouped.items():
        # Kamailio's index order (see the module doc): priority down, ties reversed
        members.sort(key=lambda m: (-m[1].priority, -m[0]))
        dests = []
        for index, (_, row, parsed) in enumerate(members):
            dest = Destination(row, parsed, index)
            before = previous.get((setid, row.uri))
            if before is not None and before.configured == row.flags:
                dest.flags = before.flags
                dest.failures, dest.successes = before.failures, before.successes
                dest.latency = before.latency
            if resolver is not None and not row.flags & NODNSARES:
                try:
                    dest.addresses = resolver(parsed)
                except Exception as exc:  # DNS down: still routable later by name
                    log.warning("dispatcher: cannot resolve %s: %s", row.uri, exc)
            dests.append(dest)
        sets[setid] = DestSet(setid, dests)
    return sets


__all__ = ["DISABLED", "INACTIVE", "NODNSARES", "PROBING", "STATES", "TRYING", "Attrs",
           "DestSet", "Destination", "Latency", "ListError", "Row", "build_sets",
           "parse_attrs", "parse_line", "parse_list"]
