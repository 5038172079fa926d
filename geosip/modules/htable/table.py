"""One hash table (Kamailio's ht_t): items name -> value (str or int) with an optional
expiry time, and the definition it was made from ("name=>size=8;autoexpire=60;...").

Contract: no method blocks or switches greenlets (they run with Lua on the stack).
An item past its expiry reads as absent at once; the module's timer (state.py) removes
it later and raises the htable:expired:<name> event. `now` is time.time() unless given.
Kamailio locks slots because its workers are processes sharing memory; here every
greenlet of the process runs one at a time and nothing here yields, so each operation
is atomic and sht_lock/sht_unlock have nothing to do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Value = str | int

# Kamailio's htable definition attributes (htable_admin.xml, modparam htable)
_INT_ATTRS = ("size", "autoexpire", "dbmode", "updateexpire", "dmqreplicate",
              "coldelim", "colnull")
_ATTRS = (*_INT_ATTRS, "initval", "dbtable")


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    size: int = 4              # Kamailio: 2^size slots; geosip's dict needs none (kept)
    autoexpire: int = 0        # seconds; 0: items never expire
    initval: int | None = None  # what a missing item reads as (None: $null)
    updateexpire: int = 1      # 1: setting an item restarts its expiry
    dbtable: str = ""          # load at start from this table
    dbmode: int = 0            # 1: write the items back to dbtable at stop


def parse_definition(spec: Any, name: str | None = None) -> Definition:
    """"name=>size=8;autoexpire=60;dbtable=htable;initval=0;dbmode=1", or (from the
    geosip table) name plus { size = 8, autoexpire = 60 } or the string after "=>".
    ValueError names what is wrong."""
    if isinstance(spec, str):
        if name is None:
            name, sep, spec = spec.partition("=>")
            if not sep:
                raise ValueError(f"htable {spec!r}: expected \"name=>attr=value;...\"")
        attrs: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"htable {name}: {part!r} is not attr=value")
            attrs[key.strip()] = value.strip()
    elif isinstance(spec, Mapping):
        attrs = dict(spec)
    else:
        raise ValueError(f"htable {name}: expected a definition string or table")
    name = (name or "").strip()
    if not name or not name.replace("_", "a").replace("-", "a").isalnum():
        raise ValueError(f"bad htable name {name!r}")
    fields: dict[str, Any] = {}
    for key, value in attrs.items():
        if key not in _ATTRS:
            raise ValueError(f"htable {name}: unknown attribute {key} "
                             f"(known: {', '.join(_ATTRS)})")
        if key == "dbtable":
            if not str(value).replace("_", "a").isalnum():
                raise ValueError(f"htable {name}: bad dbtable {value!r}")
            fields[key] = str(value)
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"htable {name}: {key} must be an integer, not {value!r}") \
                from None
        if key in ("size", "autoexpire", "dbmode", "updateexpire", "initval"):
            fields[key] = number
    if fields.get("autoexpire", 0) < 0:
        raise ValueError(f"htable {name}: autoexpire must not be negative")
    return Definition(name, **fields)


def parse_definitions(value: Any) -> dict[str, Definition]:
    """The htable modparam: one string, a list of them, or { name = attrs }."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        found = [parse_definition(spec, str(name)) for name, spec in value.items()]
    else:
        items = [value] if isinstance(value, str) else list(value)
        found = [parse_definition(item) for item in items]
    out: dict[str, Definition] = {}
    for definition in found:
        if definition.name in out:
            raise ValueError(f"htable {definition.name} is defined twice")
        out[definition.name] = definition
    return out


class Item:
    __slots__ = ("value", "expires")

    def __init__(self, value: Value, expires: float) -> None:
        self.value, self.expires = value, expires  # expires 0: never


class HTable:
    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.name = definition.name
        self.items: dict[str, Item] = {}

    # -- reading -------------------------------------------------------------------------

    def item(self, key: str, now: float | None = None) -> Item | None:
        """The live item (None when absent or expired)."""
        found = self.items.get(key)
        if found is None or (found.expires and found.expires <= (now or time.time())):
            return None
        return found

    def get(self, key: str) -> Value | None:
        """The value; a missing item reads as initval (Kamailio), else None."""
        found = self.item(key)
        return found.value if found is not None else self.definition.initval

    def live(self, now: float | None = None) -> Iterator[tuple[str, Item]]:
        now = now or time.time()
        for key, found in list(self.items.items()):
            if not found.expires or found.expires > now:
                yield key, found

    def expires_in(self, key: str) -> int | None:
        """Seconds until the item expires (0: never), None when absent ($shtex)."""
        found = self.item(key)
        if found is None:
            return None
        return max(int(found.expires - time.time() + 0.999), 0) if found.expires else 0

    # -- writing -------------------------------------------------------------------------

    def set(self, key: str, value: Value, expires: float | None = None) -> None:
        """Set an item. Its expiry: `expires` (absolute, 0 never) when given; else
        now + autoexpire for a new item, or for an existing one with updateexpire 1."""
        old = self.item(key)
        if expires is None:
            auto = self.definition.autoexpire
            if old is not None and not self.definition.updateexpire:
                expires = old.expires
            else:
                expires = time.time() + auto if auto else 0
        self.items[key] = Item(value, expires)

    def set_expires(self, key: str, seconds: int) -> bool:
        """$shtex = seconds (0: never); False when the item is absent."""
        found = self.item(key)
        if found is None:
            return False
        found.expires = time.time() + seconds if seconds > 0 else 0
        return True

    def add(self, key: str, delta: int) -> int | None:
        """sht_inc/sht_dec: the new value; a missing item starts from initval; None
        when the item holds a string, or is missing from a table without initval
        (then nothing is created: Kamailio's ht_api.c ht_cell_value_add)."""
        found = self.item(key)
        if found is None:
            if self.definition.initval is None:
                return None
            value = self.definition.initval + delta
            self.set(key, value)
            return value
        if not isinstance(found.value, int):
            return None
        found.value += delta
        if self.definition.updateexpire and self.definition.autoexpire:
            found.expires = time.time() + self.definition.autoexpire
        return found.value

    def remove(self, key: str) -> bool:
        return self.items.pop(key, None) is not None

    def remove_matching(self, op: str, pattern: str, on_value: bool) -> int:
        """sht_rm_name/sht_rm_value (op re or sw) and the _re functions: how many went."""
        test = matcher(op, pattern)
        gone = [k for k, it in self.items.items()
                if test(str(it.value) if on_value else k)]
        for key in gone:
            del self.items[key]
        return len(gone)

    def match(self, op: str, pattern: str, on_value: bool) -> bool:
        """sht_match_name/sht_match_str_value: does any live item match?"""
        test = matcher(op, pattern)
        return any(test(item.value if on_value else key) for key, item in self.live()
                   if not on_value or isinstance(item.value, str))

    def reset(self) -> None:
        self.items.clear()

    def expired(self, now: float | None = None) -> list[tuple[str, Value]]:
        """Remove the items past their expiry; return them (the timer's sweep)."""
        now = now or time.time()
        gone = [(k, it.value) for k, it in self.items.items() if it.expires and it.expires <= now]
        for key, _ in gone:
            del self.items[key]
        return gone


def matcher(op: str, pattern: str) -> Any:
    """Kamailio's match operators: eq, ne, re (regular expression, searched), sw
    (starts with). ValueError for another op or a bad expression."""
    if op == "eq":
        return lambda text: text == pattern
    if op == "ne":
        return lambda text: text != pattern
    if op == "sw":
        return lambda text: text.startswith(pattern)
    if op == "re":
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        return lambda text: compiled.search(text) is not None
    raise ValueError(f"unknown match operator {op!r} (eq, ne, re, sw)")
