"""htable's RPC commands (Kamailio's htable.* names and replies), plain functions
served by geosip/rpc. LookupError (404) for an unknown table or item."""

from __future__ import annotations

from typing import Any

from . import state


def _item(key: str, value: Any) -> dict[str, Any]:
    return {"name": key, "value": value}


def dump(htname: str) -> list[dict[str, Any]]:
    """htable.dump htname: every live item ({name, value})."""
    return [_item(k, it.value) for k, it in state.table(htname).live()]


def get(htname: str, key: str) -> dict[str, Any]:
    """htable.get htname key: the item."""
    found = state.table(htname).item(key)
    if found is None:
        raise LookupError(f"key {key} not found in htable {htname}")
    return _item(key, found.value)


def sets(htname: str, key: str, value: str) -> None:
    """htable.sets htname key value: set a string item."""
    state.table(htname).set(key, str(value))


def seti(htname: str, key: str, value: int) -> None:
    """htable.seti htname key value: set an integer item."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"htable.seti: {value!r} is not an integer") from None
    state.table(htname).set(key, number)


def delete(htname: str, key: str) -> None:
    """htable.delete htname key: remove the item."""
    state.table(htname).remove(key)


def reload(htname: str) -> dict[str, int]:
    """htable.reload htname: read the table's dbtable again in place of its items."""
    ht = state.table(htname)
    if not ht.definition.dbtable:
        raise ValueError(f"htable {htname} has no dbtable to reload from")
    count = state.load(ht)
    if count < 0:
        raise ValueError(f"htable {htname}: cannot read {ht.definition.dbtable}")
    return {"items": count}


def list_tables() -> list[dict[str, Any]]:
    """htable.listTables: the tables and their definitions."""
    return [{"name": ht.name, "dbtable": ht.definition.dbtable,
             "dbmode": ht.definition.dbmode, "expire": ht.definition.autoexpire,
             "updateexpire": ht.definition.updateexpire, "size": ht.definition.size,
             "items": sum(1 for _ in ht.live())}
            for ht in state.TABLES.values()]


def stats() -> list[dict[str, Any]]:
    """htable.stats: items per table."""
    return [{"name": ht.name, "slots": 2 ** ht.definition.size,
             "all": sum(1 for _ in ht.live())} for ht in state.TABLES.values()]
