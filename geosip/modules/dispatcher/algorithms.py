"""Which destination of a set, and in which order the others are tried after it
(Kamailio's dispatcher README §4.1, ds_select_dst's `alg`).

`choose(dset, alg, ...)` returns the destinations in the order a call tries them:
the selected one first, then the failover candidates, the default destination last
(use_default); empty when nothing is selectable. It never blocks and keeps the
per-set counters (round robin, weight slots) in the DestSet.

Algorithms: 0 Call-ID hash, 1 From URI hash, 2 To URI hash, 3 R-URI hash, 5 auth
username hash (round robin without credentials), 7 hash of the ds_hash_pvar format:
the caller computes the hash (`ds_hash`, Kamailio's ds_get_hash, so a given key maps
to the same index as in Kamailio) and passes `key`. 4 round robin, 6 random,
8 priority order (first available), 9 weight (100 slots filled by each destination's
weight percentage, the last destination filling up to 100, shuffled once per set;
over any 100 consecutive calls each gets exactly its share), 10 call load (fewest
active calls, under maxload; `load` counts them), 11 relative weight (slots shared
by the selectable destinations in proportion to rweight, rebuilt when one goes up or
down), 13 latency (round robin among the destinations with the best priority as
adjusted by the probe latency estimate: priority - estimate / priority). 12
(parallel forking) is not supported: nothing is chosen. Other numbers take the first
selectable destination, as Kamailio's "X".
A hashed, round robin, random or weighted choice that falls on an unusable
destination moves on to the next usable one in the set.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .destinations import DestSet, Destination

HASH_ALGS = (0, 1, 2, 3, 5, 7)
SLOTS = 100
MASK = 0xFFFFFFFF

LoadOf = Callable[[Destination], int]


def ds_hash(first: str | None, second: str | None = None) -> int:
    """Kamailio's ds_get_hash over one or two strings (unsigned 32-bit; never 0 for
    given input). The bytes are the wire's (geosip decodes with surrogateescape)."""
    if first is None and second is None:
        return 0
    h = 0
    for text in (first, second):
        if text is None:
            continue
        # ds_get_hash reads them through a `char *`, signed on x86/gcc: a byte >= 0x80
        # counts negative (sign-extended into the unsigned sum), so a UTF-8 Call-ID
        # lands where Kamailio puts it only when it is read the same way
        raw = text.encode("utf-8", "surrogateescape")
        data: bytes | list[int] = raw if raw.isascii() else [b - 256 if b >= 0x80 else b
                                                             for b in raw]
        end = len(data) - len(data) % 4
        for i in range(0, end, 4):
            v = (data[i] << 24) + (data[i + 1] << 16) + (data[i + 2] << 8) + data[i + 3]
            v &= MASK
            h = (h + (v ^ (v >> 3))) & MASK
        v = 0
        for byte in data[end:]:
            v = ((v << 8) + byte) & MASK
        h = (h + (v ^ (v >> 3))) & MASK
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & MASK
    return h or 1


def _next_usable(dests: list[Destination], start: int) -> int | None:
    n = len(dests)
    for step in range(n):
        i = (start + step) % n
        if dests[i].usable:
            return i
    return None


def _cyclic_rest(dests: list[Destination], first: int) -> list[Destination]:
    n = len(dests)
    return [dests[(first + k) % n] for k in range(1, n) if dests[(first + k) % n].usable]


def _weight_slots(dests: list[Destination], weight: Callable[[Destination], int],
                  seed: int) -> list[int]:
    """SLOTS slots of indexes: each destination its share, the last filling up."""
    slots: list[int] = []
    for i, dest in enumerate(dests):
        share = min(weight(dest), SLOTS - len(slots))
        slots += [i] * share
    if dests and len(slots) < SLOTS:
        slots += [len(dests) - 1] * (SLOTS - len(slots))
    random.Random(seed).shuffle(slots)
    return slots


def _relative_slots(dests: list[Destination], seed: int) -> list[int]:
    members = [i for i, d in enumerate(dests) if d.usable and d.attrs.rweight > 0]
    total = sum(dests[i].attrs.rweight for i in members)
    slots: list[int] = []
    for i in members:
        slots += [i] * (dests[i].attrs.rweight * SLOTS // total)
    if members and len(slots) < SLOTS:
        slots += [members[-1]] * (SLOTS - len(slots))
    random.Random(seed).shuffle(slots)
    return slots


def _adjusted(dest: Destination, use_latency: bool) -> int:
    if not use_latency or dest.priority <= 0:
        return dest.priority
    return dest.priority - int(dest.latency.estimate) // dest.priority


def choose(dset: DestSet, alg: int, key: int | None = None, *, use_default: bool = False,
           rng: random.Random | None = None, load: LoadOf | None = None,
           use_latency: bool = False) -> list[Destination]:
    """The destinations to try, in order (see the module doc). `key` is the hash for
    the hash algorithms (None: alg 5 without credentials, treated as round robin)."""
    dests = dset.dests
    default = dests[-1] if use_default and len(dests) > 1 else None
    pool = dests[:-1] if default is not None else dests
    if not pool or alg == 12:  # parallel forking to the whole set: not supported
        return []
    order: list[Destination]
    if alg == 10:
        order = _by_load(pool, load or (lambda d: 0))
    elif alg == 13:
        order = _by_latency(dset, pool, use_latency)
    else:
        first = _first(dset, pool, alg, key, rng or random.Random())
        order = [] if first is None else [pool[first], *_cyclic_rest(pool, first)]
    if default is not None and default.usable:
        order.append(default)
    return order


def _first(dset: DestSet, pool: list[Destination], alg: int, key: int | None,
           rng: random.Random) -> int | None:
    n = len(pool)
    if alg in HASH_ALGS and key is not None:
        start = key % n
    elif alg in (4, 5):  # 5 without credentials: round robin (README §4.1)
        start = dset.rr % n
        dset.rr = (start + 1) % n
    elif alg == 6:
        start = rng.randrange(n)
    elif alg == 9:
        if len(dset.wslots) != SLOTS:
            dset.wslots = _weight_slots(pool, lambda d: d.attrs.weight, dset.setid)
        start = dset.wslots[dset.wlast % SLOTS]
        dset.wlast = (dset.wlast + 1) % SLOTS
    elif alg == 11:
        key_now = tuple(i for i, d in enumerate(pool) if d.usable)
        if key_now != dset.rwkey or len(dset.rwslots) != SLOTS:
            dset.rwkey, dset.rwslots = key_now, _relative_slots(pool, dset.setid)
            dset.rwlast = 0
        if not dset.rwslots:
            return _next_usable(pool, 0)
        start = dset.rwslots[dset.rwlast % SLOTS]
        dset.rwlast = (dset.rwlast + 1) % SLOTS
    else:  # 8, and the unknown ones: the set's order
        start = 0
    return _next_usable(pool, start)


def _by_load(pool: list[Destination], load: LoadOf) -> list[Destination]:
    """Fewest calls first among those under their maxload (ties: set order); the rest
    in set order. Empty when every destination is unusable or full."""
    open_ = [d for d in pool if d.usable and (not d.attrs.maxload or load(d) < d.attrs.maxload)]
    if not open_:
        return []
    best = min(open_, key=lambda d: (load(d), d.index))
    return [best, *(d for d in pool if d is not best and d.usable)]


def _by_latency(dset: DestSet, pool: list[Destination], use_latency: bool) -> list[Destination]:
    usable = [d for d in pool if d.usable]
    if not usable:
        return []
    top = max(_adjusted(d, use_latency) for d in usable)
    best = [d for d in usable if _adjusted(d, use_latency) == top]
    first = best[dset.lrr % len(best)]
    dset.lrr = (dset.lrr + 1) % len(best)
    rest = sorted((d for d in usable if d is not first),
                  key=lambda d: (-_adjusted(d, use_latency), d.index))
    return [first, *rest]


__all__ = ["HASH_ALGS", "choose", "ds_hash"]
