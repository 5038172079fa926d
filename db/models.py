"""peewee models with Kamailio 5.6's table and column names, types and defaults.

Checked against Kamailio 5.6.3 (its kamctl SQL schema and the dbtext schema it ships in
/usr/share/kamailio/dbtext/kamailio): a database made by geosip works with Kamailio's
modules and kamctl, and a Kamailio database works with geosip. `TABLE_VERSIONS` holds the
numbers Kamailio writes into its `version` table for these tables.

Every model binds to `database`, a peewee DatabaseProxy: call `database.initialize(db)`
(geosip.db.schema.bind does) with the Database from geosip.db.connect.open_database.
Under gevent, this module must be imported after monkey-patching (STACK-NOTES.md §6).
"""

from __future__ import annotations

import datetime as dt
import functools

import peewee as pw

__all__ = [
    "database", "BaseModel", "Version", "Subscriber", "Location", "LocationAttrs",
    "Aliases", "Domain", "DomainAttrs", "Address", "Dispatcher", "Dialog", "DialogVars",
    "Acc", "MissedCalls", "AccCdrs", "Silo", "Htable", "MODELS", "TABLE_VERSIONS", "on_table",
]

database = pw.DatabaseProxy()

# Kamailio's column defaults for "never" and "not yet".
EXPIRES_DEFAULT = dt.datetime(2030, 5, 28, 21, 32, 15)
LAST_MODIFIED_DEFAULT = dt.datetime(2000, 1, 1, 0, 0, 1)
ALIASES_LAST_MODIFIED_DEFAULT = dt.datetime(1900, 1, 1, 0, 0, 1)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Version(BaseModel):
    """version: one row per table, the schema version Kamailio's modules check at start."""

    id = pw.AutoField()
    table_name = pw.CharField(max_length=32, unique=True)
    table_version = pw.IntegerField(default=0)

    class Meta:
        table_name = "version"


class Subscriber(BaseModel):
    """subscriber (auth_db): ha1 = H(username:domain:password), ha1b = H(username@domain:...)."""

    id = pw.AutoField()
    username = pw.CharField(max_length=64, default="")
    domain = pw.CharField(max_length=64, default="")
    password = pw.CharField(max_length=64, default="")
    ha1 = pw.CharField(max_length=128, default="")
    ha1b = pw.CharField(max_length=128, default="")

    class Meta:
        table_name = "subscriber"


Subscriber.add_index(Subscriber.username, Subscriber.domain, unique=True,
                     name="subscriber_account_idx")
Subscriber.add_index(Subscriber.username, name="subscriber_username_idx")


class _ContactRecord(BaseModel):
    """The columns location and aliases share (usrloc's contact records); not a table
    itself (it is not in MODELS). Indexes are added per table: their names are global
    in a PostgreSQL schema."""

    id = pw.AutoField()
    ruid = pw.CharField(max_length=64, default="")
    username = pw.CharField(max_length=64, default="")
    domain = pw.CharField(max_length=64, null=True, default=None)
    contact = pw.CharField(max_length=512, default="")
    received = pw.CharField(max_length=128, null=True, default=None)
    path = pw.CharField(max_length=512, null=True, default=None)
    expires = pw.DateTimeField(default=EXPIRES_DEFAULT)
    q = pw.FloatField(default=1.0)  # REAL, as Kamailio's schema
    callid = pw.CharField(max_length=255, default="Default-Call-ID")
    cseq = pw.IntegerField(default=1)
    last_modified = pw.DateTimeField(default=LAST_MODIFIED_DEFAULT)
    flags = pw.IntegerField(default=0)
    cflags = pw.IntegerField(default=0)
    user_agent = pw.CharField(max_length=255, default="")
    socket = pw.CharField(max_length=64, null=True, default=None)
    methods = pw.IntegerField(null=True, default=None)
    instance = pw.CharField(max_length=255, null=True, default=None)
    reg_id = pw.IntegerField(default=0)
    server_id = pw.IntegerField(default=0)
    connection_id = pw.IntegerField(default=0)
    keepalive = pw.IntegerField(default=0)
    partition = pw.IntegerField(default=0)


class Location(_ContactRecord):
    """location (usrloc, version 9)."""

    class Meta:
        table_name = "location"


Location.add_index(Location.ruid, unique=True, name="location_ruid_idx")
Location.add_index(Location.username, Location.domain, Location.contact,
                   name="location_account_contact_idx")
Location.add_index(Location.expires, name="location_expires_idx")
Location.add_index(Location.server_id, Location.connection_id, name="location_connection_idx")


class Aliases(_ContactRecord):
    """aliases (registrar, version 8): location's columns, contact 255 wide."""

    class Meta:
        table_name = "aliases"


# Changed on aliases' own copies of the fields, not redeclared: a redeclared field would
# move to the end of the table, and the columns keep Kamailio's order.
Aliases.contact.max_length = 255
Aliases.last_modified.default = ALIASES_LAST_MODIFIED_DEFAULT

Aliases.add_index(Aliases.ruid, unique=True, name="aliases_ruid_idx")
Aliases.add_index(Aliases.username, Aliases.domain, Aliases.contact,
                  name="aliases_account_contact_idx")
Aliases.add_index(Aliases.expires, name="aliases_expires_idx")


class LocationAttrs(BaseModel):
    """location_attrs (usrloc xavp attributes of a contact, version 1)."""

    id = pw.AutoField()
    ruid = pw.CharField(max_length=64, default="")
    username = pw.CharField(max_length=64, default="")
    domain = pw.CharField(max_length=64, null=True, default=None)
    aname = pw.CharField(max_length=64, default="")
    atype = pw.IntegerField(default=0)
    avalue = pw.CharField(max_length=512, default="")
    last_modified = pw.DateTimeField(default=LAST_MODIFIED_DEFAULT)

    class Meta:
        table_name = "location_attrs"


LocationAttrs.add_index(LocationAttrs.username, LocationAttrs.domain, LocationAttrs.ruid,
                        name="location_attrs_account_record_idx")
LocationAttrs.add_index(LocationAttrs.last_modified, name="location_attrs_last_modified_idx")


class Domain(BaseModel):
    """domain (domain module, version 2): the domains this server is responsible for."""

    id = pw.AutoField()
    domain = pw.CharField(max_length=64)
    did = pw.CharField(max_length=64, null=True, default=None)
    last_modified = pw.DateTimeField(default=LAST_MODIFIED_DEFAULT)

    class Meta:
        table_name = "domain"


Domain.add_index(Domain.domain, unique=True, name="domain_domain_idx")


class DomainAttrs(BaseModel):
    """domain_attrs (domain module, version 1): attributes per domain id (did)."""

    id = pw.AutoField()
    did = pw.CharField(max_length=64)
    name = pw.CharField(max_length=32)
    type = pw.IntegerField()
    value = pw.CharField(max_length=255)
    last_modified = pw.DateTimeField(default=LAST_MODIFIED_DEFAULT)

    class Meta:
        table_name = "domain_attrs"


DomainAttrs.add_index(DomainAttrs.did, DomainAttrs.name, name="domain_attrs_domain_attrs_idx")


class Address(BaseModel):
    """address (permissions module, version 6): trusted IP addresses/subnets by group."""

    id = pw.AutoField()
    grp = pw.IntegerField(default=1)
    ip_addr = pw.CharField(max_length=50)
    mask = pw.IntegerField(default=32)
    port = pw.SmallIntegerField(default=0)
    tag = pw.CharField(max_length=64, null=True, default=None)

    class Meta:
        table_name = "address"


class Dispatcher(BaseModel):
    """dispatcher (version 4): destination sets for load balancing."""

    id = pw.AutoField()
    setid = pw.IntegerField(default=0)
    destination = pw.CharField(max_length=192, default="")
    flags = pw.IntegerField(default=0)
    priority = pw.IntegerField(default=0)
    attrs = pw.CharField(max_length=128, default="")
    description = pw.CharField(max_length=64, default="")

    class Meta:
        table_name = "dispatcher"


class Dialog(BaseModel):
    """dialog (version 7): dialogs kept across restarts (dialog module, db_mode)."""

    id = pw.AutoField()
    hash_entry = pw.IntegerField()
    hash_id = pw.IntegerField()
    callid = pw.CharField(max_length=255)
    from_uri = pw.CharField(max_length=255)
    from_tag = pw.CharField(max_length=128)
    to_uri = pw.CharField(max_length=255)
    to_tag = pw.CharField(max_length=128)
    caller_cseq = pw.CharField(max_length=20)
    callee_cseq = pw.CharField(max_length=20)
    caller_route_set = pw.CharField(max_length=512, null=True)
    callee_route_set = pw.CharField(max_length=512, null=True)
    caller_contact = pw.CharField(max_length=255)
    callee_contact = pw.CharField(max_length=255)
    caller_sock = pw.CharField(max_length=64)
    callee_sock = pw.CharField(max_length=64)
    state = pw.IntegerField()
    start_time = pw.IntegerField()
    timeout = pw.IntegerField(default=0)
    sflags = pw.IntegerField(default=0)
    iflags = pw.IntegerField(default=0)
    toroute_name = pw.CharField(max_length=32, null=True)
    req_uri = pw.CharField(max_length=255)
    xdata = pw.CharField(max_length=512, null=True)

    class Meta:
        table_name = "dialog"


Dialog.add_index(Dialog.hash_entry, Dialog.hash_id, name="dialog_hash_idx")


class DialogVars(BaseModel):
    """dialog_vars (version 1): the variables of the dialogs in `dialog`."""

    id = pw.AutoField()
    hash_entry = pw.IntegerField()
    hash_id = pw.IntegerField()
    dialog_key = pw.CharField(max_length=128)
    dialog_value = pw.CharField(max_length=512)

    class Meta:
        table_name = "dialog_vars"


DialogVars.add_index(DialogVars.hash_entry, DialogVars.hash_id, name="dialog_vars_hash_idx")


class _AccRecord(BaseModel):
    """The columns acc writes for a transaction (acc and missed_calls share them); extra
    columns from the acc module's db_extra parameter are added by the operator."""

    id = pw.AutoField()
    method = pw.CharField(max_length=16, default="")
    from_tag = pw.CharField(max_length=128, default="")
    to_tag = pw.CharField(max_length=128, default="")
    callid = pw.CharField(max_length=255, default="")
    sip_code = pw.CharField(max_length=3, default="")
    sip_reason = pw.CharField(max_length=128, default="")
    time = pw.DateTimeField()


class Acc(_AccRecord):
    """acc (version 5): one row per accounted transaction."""

    class Meta:
        table_name = "acc"


Acc.add_index(Acc.callid, name="acc_callid_idx")


class MissedCalls(_AccRecord):
    """missed_calls (version 4): accounted transactions that failed."""

    class Meta:
        table_name = "missed_calls"


MissedCalls.add_index(MissedCalls.callid, name="missed_calls_callid_idx")


class AccCdrs(BaseModel):
    """acc_cdrs (version 2): one CDR per ended dialog (acc's cdr_enable)."""

    id = pw.AutoField()
    start_time = pw.DateTimeField(default=dt.datetime(2000, 1, 1, 0, 0, 0))
    end_time = pw.DateTimeField(default=dt.datetime(2000, 1, 1, 0, 0, 0))
    duration = pw.FloatField(default=0)

    class Meta:
        table_name = "acc_cdrs"


AccCdrs.add_index(AccCdrs.start_time, name="acc_cdrs_start_time_idx")


class Silo(BaseModel):
    """silo (msilo, version 8): messages stored for users who are offline."""

    id = pw.AutoField()
    src_addr = pw.CharField(max_length=255, default="")
    dst_addr = pw.CharField(max_length=255, default="")
    username = pw.CharField(max_length=64, default="")
    domain = pw.CharField(max_length=64, default="")
    inc_time = pw.IntegerField(default=0)
    exp_time = pw.IntegerField(default=0)
    snd_time = pw.IntegerField(default=0)
    ctype = pw.CharField(max_length=32, default="text/plain")
    body = pw.BlobField(null=True)
    extra_hdrs = pw.TextField(null=True)
    callid = pw.CharField(max_length=128, default="")
    status = pw.IntegerField(default=0)

    class Meta:
        table_name = "silo"


Silo.add_index(Silo.username, Silo.domain, name="silo_account_idx")


class Htable(BaseModel):
    """htable (version 2): rows loaded into a hash table defined with dbtable."""

    id = pw.AutoField()
    key_name = pw.CharField(max_length=64, default="")
    key_type = pw.IntegerField(default=0)
    value_type = pw.IntegerField(default=0)
    key_value = pw.CharField(max_length=128, default="")
    expires = pw.IntegerField(default=0)

    class Meta:
        table_name = "htable"


# Creation order: version first, so a half-made database still says what it has.
MODELS: tuple[type[BaseModel], ...] = (
    Version, Subscriber, Location, LocationAttrs, Aliases, Domain, DomainAttrs, Address,
    Dispatcher, Dialog, DialogVars, Acc, MissedCalls, AccCdrs, Silo, Htable,
)

# Kamailio 5.6's versions (its dbtext `version` file), by table name.
TABLE_VERSIONS: dict[str, int] = {
    "version": 1,
    "subscriber": 7,
    "location": 9,
    "location_attrs": 1,
    "aliases": 8,
    "domain": 2,
    "domain_attrs": 1,
    "address": 6,
    "dispatcher": 4,
    "dialog": 7,
    "dialog_vars": 1,
    "acc": 5,
    "missed_calls": 4,
    "acc_cdrs": 2,
    "silo": 8,
    "htable": 2,
}


@functools.lru_cache(maxsize=64)
def on_table(model: type[BaseModel], table: str) -> type[BaseModel]:
    """`model` bound to another table of the same shape (Kamailio's modules take the
    table name as an argument: auth_check(realm, "subscriber"), save("location")).
    ValueError for a name that is not a plain identifier (it goes into SQL)."""
    if not table.replace("_", "a").isalnum() or not table.isascii():
        raise ValueError(f"bad table name {table!r}")
    if table == model._meta.table_name:
        return model
    meta = type("Meta", (), {"table_name": table})
    return type(f"{model.__name__}_{table}", (model,), {"Meta": meta})


def _sql_default(value: object) -> pw.SQL:
    if isinstance(value, dt.datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        return pw.SQL("DEFAULT '%s'" % value.replace("'", "''"))
    return pw.SQL(f"DEFAULT {value!r}")


# The defaults in the DDL too, as Kamailio's schema has them: Kamailio's modules and kamctl
# insert rows naming only some columns.
for _model in MODELS:
    for _field in _model._meta.sorted_fields:
        if _field.default is not None and not callable(_field.default) and not _field.constraints:
            _field.constraints = [_sql_default(_field.default)]
