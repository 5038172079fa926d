"""What other modules use of usrloc (STYLE.md item 4): the binding value (`Contact`),
a table by name (`table`, Kamailio's udomain, made on first use), the q ordering, the
error a database mode raises when its database fails, and the RPC-ready ul.*
functions."""

from __future__ import annotations

from .location import FL_MEM, Contact, Location, q_order
from .rpc import ul_add, ul_dump, ul_flush, ul_lookup, ul_rm
from .store import DatabaseError
from .tables import (SETTINGS, STATS, flush, location_contacts, registered_users, reset,
                     sweep, table)

__all__ = ["FL_MEM", "SETTINGS", "STATS", "Contact", "DatabaseError", "Location", "flush",
           "location_contacts", "q_order", "registered_users", "reset", "sweep", "table",
           "ul_add", "ul_dump", "ul_flush", "ul_lookup", "ul_rm"]
