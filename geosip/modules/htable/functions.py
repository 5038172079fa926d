"""KSR.htable: Kamailio's htable KEMI functions (htable.c, sr_kemi_htable_exports).
None of them waits. An undefined table is -1 (logged), as Kamailio's "cannot get
hash table"; sht_get of one is nil. See README.md for each return code."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from geosip.script.exports import ksr

from . import state
from .table import HTable

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.htable")

ITERATORS = "htable_iterators"  # ctx.script.extra: {name: [table, [(key, value)...], pos]}
INC_ERROR = -255                # sht_inc/sht_dec when the item holds a string


def _table(name: str) -> HTable | None:
    found = state.TABLES.get(name)
    if found is None:
        log.error("htable: cannot get hash table [%s]", name)
    return found


@ksr("sht_get", "ss", returns="the value (string or integer); the table's initval, "
     "else nil, when there is no such item")
def sht_get(ctx: "RequestContext", htname: str, itname: str) -> Any:
    """Value of item `itname` of table `htname`."""
    return _get(htname, itname)


def _get(htname: str, itname: str) -> Any:
    ht = _table(htname)
    return ht.get(itname) if ht is not None else None


@ksr("sht_gete", "ss", returns="the value; \"\" when there is no such item")
def sht_gete(ctx: "RequestContext", htname: str, itname: str) -> Any:
    """As sht_get, with "" for a missing item."""
    value = _get(htname, itname)
    return "" if value is None else value


def _deadline(seconds: int) -> float:
    return time.time() + int(seconds) if int(seconds) > 0 else 0


def _set(htname: str, itname: str, value: Any, expires: float | None = None) -> int:
    ht = _table(htname)
    if ht is None:
        return -1
    ht.set(itname, value, expires)
    return 1


@ksr("sht_sets", "sss", returns="1 set, -1 no such table")
def sht_sets(ctx: "RequestContext", htname: str, itname: str, itval: str) -> int:
    """Set item `itname` to the string `itval` (its expiry restarts: autoexpire)."""
    return _set(htname, itname, itval)


@ksr("sht_seti", "ssi", returns="1 set, -1 no such table")
def sht_seti(ctx: "RequestContext", htname: str, itname: str, itval: int) -> int:
    """Set item `itname` to the integer `itval`."""
    return _set(htname, itname, int(itval))


@ksr("sht_setxs", "sssi", returns="1 set, -1 no such table")
def sht_setxs(ctx: "RequestContext", htname: str, itname: str, itval: str, exval: int) -> int:
    """Set a string item that expires in `exval` seconds (0: never)."""
    return _set(htname, itname, itval, _deadline(exval))


@ksr("sht_setxi", "ssii", returns="1 set, -1 no such table")
def sht_setxi(ctx: "RequestContext", htname: str, itname: str, itval: int, exval: int) -> int:
    """Set an integer item that expires in `exval` seconds (0: never)."""
    return _set(htname, itname, int(itval), _deadline(exval))


@ksr("sht_setex", "ssi", returns="1 done, -1 no such table or item")
def sht_setex(ctx: "RequestContext", htname: str, itname: str, exval: int) -> int:
    """Make item `itname` expire in `exval` seconds from now (0: never)."""
    ht = _table(htname)
    return 1 if ht is not None and ht.set_expires(itname, int(exval)) else -1


def _add(htname: str, itname: str, delta: int) -> int:
    ht = _table(htname)
    if ht is None:
        return INC_ERROR
    value = ht.add(itname, delta)
    return INC_ERROR if value is None else value


@ksr("sht_inc", "ss", returns="the new value; -255 when the item holds a string, is "
     "missing from a table without initval, or the table does not exist")
def sht_inc(ctx: "RequestContext", htname: str, itname: str) -> int:
    """Add 1 to an integer item; a missing item starts from the table's initval, and
    without one nothing is created (Kamailio's ht_cell_value_add)."""
    return _add(htname, itname, 1)


@ksr("sht_dec", "ss", returns="the new value; -255 as sht_inc")
def sht_dec(ctx: "RequestContext", htname: str, itname: str) -> int:
    """Subtract 1 from an integer item (a missing one as sht_inc)."""
    return _add(htname, itname, -1)


@ksr("sht_rm", "ss", returns="1 (also when there was no such item), -1 no such table")
def sht_rm(ctx: "RequestContext", htname: str, itname: str) -> int:
    """Remove item `itname`."""
    ht = _table(htname)
    if ht is None:
        return -1
    ht.remove(itname)
    return 1


def _remove(htname: str, op: str, value: str, on_value: bool) -> int:
    ht = _table(htname)
    if ht is None:
        return -1
    try:
        ht.remove_matching(op, value, on_value)
    except ValueError as exc:
        log.error("htable %s: %s", htname, exc)
        return -1
    return 1


@ksr("sht_rm_name_re", "ss", returns="1 done, -1 no such table or a bad expression")
def sht_rm_name_re(ctx: "RequestContext", htname: str, rexp: str) -> int:
    """Remove the items whose name matches the regular expression `rexp`."""
    return _remove(htname, "re", rexp, False)


@ksr("sht_rm_value_re", "ss", returns="1 done, -1 no such table or a bad expression")
def sht_rm_value_re(ctx: "RequestContext", htname: str, rexp: str) -> int:
    """Remove the items whose value (as text) matches `rexp`."""
    return _remove(htname, "re", rexp, True)


@ksr("sht_rm_name", "sss", returns="1 done, -1 no such table or another op")
def sht_rm_name(ctx: "RequestContext", htname: str, op: str, val: str) -> int:
    """Remove the items whose name matches: op "re" (regular expression) or "sw"
    (starts with)."""
    return _remove(htname, op, val, False) if op in ("re", "sw") else -1


@ksr("sht_rm_value", "sss", returns="1 done, -1 no such table or another op")
def sht_rm_value(ctx: "RequestContext", htname: str, op: str, val: str) -> int:
    """Remove the items whose value matches (op "re" or "sw")."""
    return _remove(htname, op, val, True) if op in ("re", "sw") else -1


def _match(htname: str, op: str, val: str, on_value: bool) -> int:
    ht = _table(htname)
    if ht is None:
        return -1
    try:
        return 1 if ht.match(op, val, on_value) else -1
    except ValueError as exc:
        log.error("htable %s: %s", htname, exc)
        return -1


@ksr("sht_match_name", "sss", returns="1 some item's name matches, -1 none (or an error)")
def sht_match_name(ctx: "RequestContext", htname: str, op: str, mval: str) -> int:
    """Whether an item name matches `mval` by op: eq, ne, re (regular expression),
    sw (starts with)."""
    return _match(htname, op, mval, False)


@ksr("sht_has_name", "sss", returns="as sht_match_name")
def sht_has_name(ctx: "RequestContext", htname: str, op: str, mval: str) -> int:
    """Alias of sht_match_name."""
    return _match(htname, op, mval, False)


@ksr("sht_match_str_value", "sss", returns="1 some string value matches, -1 none")
def sht_match_str_value(ctx: "RequestContext", htname: str, op: str, mval: str) -> int:
    """Whether a string item's value matches `mval` by op (eq, ne, re, sw)."""
    return _match(htname, op, mval, True)


@ksr("sht_has_str_value", "sss", returns="as sht_match_str_value")
def sht_has_str_value(ctx: "RequestContext", htname: str, op: str, mval: str) -> int:
    """Alias of sht_match_str_value."""
    return _match(htname, op, mval, True)


@ksr("sht_reset", "s", returns="1 emptied, -1 no such table")
def sht_reset(ctx: "RequestContext", htname: str) -> int:
    """Remove every item of `htname`."""
    ht = _table(htname)
    if ht is None:
        return -1
    ht.reset()
    return 1


@ksr("sht_lock", "ss", returns="1")
def sht_lock(ctx: "RequestContext", htname: str, skey: str) -> int:
    """Kamailio locks the slot of `skey` against other processes. geosip's workers
    are greenlets of one process that never switch inside a KSR call or between two
    calls without a blocking one, so a read-modify-write between sht_lock and
    sht_unlock with no waiting call inside is atomic already: nothing to do."""
    return 1 if htname in state.TABLES else -1


@ksr("sht_unlock", "ss", returns="1")
def sht_unlock(ctx: "RequestContext", htname: str, skey: str) -> int:
    """See sht_lock: nothing to release."""
    return 1 if htname in state.TABLES else -1


def _iterators(ctx: "RequestContext") -> dict[str, list[Any]]:
    found = ctx.script.extra.get(ITERATORS)
    if found is None:
        found = ctx.script.extra[ITERATORS] = {}
    return found  # type: ignore[return-value]


@ksr("sht_iterator_start", "ss", returns="1 started, -1 no such table")
def sht_iterator_start(ctx: "RequestContext", iname: str, hname: str) -> int:
    """Start iterator `iname` over the items of `hname` as they are now (call
    sht_iterator_next to reach the first)."""
    ht = _table(hname)
    if ht is None:
        return -1
    _iterators(ctx)[iname] = [ht, [(k, it.value) for k, it in ht.live()], -1]
    return 1


@ksr("sht_iterator_next", "s", returns="1 on the next item, -1 no more (or no iterator)")
def sht_iterator_next(ctx: "RequestContext", iname: str) -> int:
    """Move iterator `iname` to the next item."""
    it = _iterators(ctx).get(iname)
    if it is None or it[2] + 1 >= len(it[1]):
        return -1
    it[2] += 1
    return 1


@ksr("sht_iterator_end", "s", returns="1")
def sht_iterator_end(ctx: "RequestContext", iname: str) -> int:
    """Close iterator `iname`."""
    _iterators(ctx).pop(iname, None)
    return 1


def current(ctx: "RequestContext", iname: str) -> tuple[str, Any] | None:
    """(key, value) under iterator `iname`, None before the first next or after the end."""
    it = _iterators(ctx).get(iname)
    if it is None or not 0 <= it[2] < len(it[1]):
        return None
    return it[1][it[2]]  # type: ignore[no-any-return]


@ksr("sht_iterator_sname", "s", returns="the current item's name, nil when none")
def sht_iterator_sname(ctx: "RequestContext", iname: str) -> Any:
    """Name of the item under iterator `iname` ($shtitkey)."""
    found = current(ctx, iname)
    return found[0] if found else None


@ksr("sht_iterator_sval", "s", returns="the current item's value, nil when none or an integer")
def sht_iterator_sval(ctx: "RequestContext", iname: str) -> Any:
    """String value of the item under iterator `iname`."""
    found = current(ctx, iname)
    return found[1] if found and isinstance(found[1], str) else None


@ksr("sht_iterator_ival", "s", returns="the current item's integer value, nil when none")
def sht_iterator_ival(ctx: "RequestContext", iname: str) -> Any:
    """Integer value of the item under iterator `iname`."""
    found = current(ctx, iname)
    return found[1] if found and isinstance(found[1], int) else None


@ksr("sht_iterator_rm", "s", returns="1 removed, -1 no current item")
def sht_iterator_rm(ctx: "RequestContext", iname: str) -> int:
    """Remove the item under iterator `iname` from its table."""
    found = current(ctx, iname)
    if found is None:
        return -1
    _iterators(ctx)[iname][0].remove(found[0])
    return 1


FUNCTIONS = (sht_get, sht_gete, sht_sets, sht_seti, sht_setxs, sht_setxi, sht_setex,
             sht_inc, sht_dec, sht_rm, sht_rm_name_re, sht_rm_value_re, sht_rm_name,
             sht_rm_value, sht_match_name, sht_has_name, sht_match_str_value,
             sht_has_str_value, sht_reset, sht_lock, sht_unlock, sht_iterator_start,
             sht_iterator_next, sht_iterator_end, sht_iterator_sname, sht_iterator_sval,
             sht_iterator_ival, sht_iterator_rm)
