"""dispatcher's list file, attributes and algorithms, without a network (Kamailio's
dispatcher README §4.1 for the algorithms, §6.1 for the list file format)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from geosip.modules.dispatcher import mod
from geosip.modules.dispatcher.algorithms import choose, ds_hash
from geosip.modules.dispatcher.destinations import (INACTIVE, ListError, Row, build_sets,
                                                    parse_attrs, parse_line, parse_list)
from geosip.modules.dispatcher.store import STORE, ReplyCodes

LINES = [
    ("1 sip:127.0.0.1:5080", Row(1, "sip:127.0.0.1:5080")),
    ("  2 sip:gw.example.com;transport=tcp 8 10 duid=a;weight=50 main gateway ",
     Row(2, "sip:gw.example.com;transport=tcp", 8, 10, "duid=a;weight=50", "main gateway")),
    ("3 sip:10.0.0.1 1 # inactive", Row(3, "sip:10.0.0.1", 1)),
    ("# a comment", None),
    ("   ", None),
]


@pytest.mark.parametrize(("line", "row"), LINES)
def test_list_lines(line: str, row: Row | None) -> None:
    assert parse_line(line) == row


@pytest.mark.parametrize("line", ["1", "x sip:a", "1 sip:a x", "1 sip:a 0 y"])
def test_bad_list_lines(line: str) -> None:
    with pytest.raises(ListError):
        parse_line(line, "f:1")


def test_a_destination_that_is_no_sip_uri_refuses_the_list() -> None:
    with pytest.raises(ListError, match="not a SIP URI|bad destination"):
        build_sets(parse_list("1 http://example.com\n"))


def test_attributes() -> None:
    attrs = parse_attrs("duid=gw1;maxload=20;weight=150;rweight=30;socket=udp:1.2.3.4:5060;"
                        "ping_from=sip:p@x;flag;obproxy=sip:op")
    assert (attrs.duid, attrs.maxload, attrs.weight, attrs.rweight, attrs.socket,
            attrs.ping_from, attrs.obproxy) == ("gw1", 20, 0, 30, "udp:1.2.3.4:5060",
                                                "sip:p@x", "sip:op")
    assert attrs.values["flag"] == ""


def test_sets_are_ordered_by_priority_and_keep_state_across_a_reload() -> None:
    sets = build_sets(parse_list("1 sip:a.invalid 0 1\n1 sip:b.invalid 0 5\n"
                                 "1 sip:c.invalid 0 5\n"))
    # highest priority first, equal priorities in reverse file order (Kamailio's
    # dispatch.c: add_dest2list + reindex_dests)
    assert [d.uri for d in sets[1].dests] == ["sip:c.invalid", "sip:b.invalid", "sip:a.invalid"]
    sets[1].dests[1].flags |= INACTIVE  # b
    again = build_sets(parse_list("1 sip:b.invalid 0 5\n1 sip:c.invalid 1 5\n"), sets)
    assert [d.uri for d in again[1].dests] == ["sip:c.invalid", "sip:b.invalid"]
    # c's configured flags changed, so the file wins; b kept its learnt state
    assert [d.flags for d in again[1].dests] == [INACTIVE, INACTIVE]


def test_destinations_resolve_for_is_from_list(tmp_path: Path) -> None:
    path = tmp_path / "list"
    path.write_text("1 sip:localhost:5090\n1 sip:127.0.0.2;transport=tcp\n"
                    "1 sip:nonexistent.invalid 16\n")
    mod.init({"list_file": str(path)})
    try:
        addresses = [d.addresses for d in STORE.sets[1].dests]
    finally:
        mod.destroy()
    # in Kamailio's index order: the file's last line first
    assert ("udp", "127.0.0.1", 5090) in addresses[2]
    assert addresses[:2] == [[], [("tcp", "127.0.0.2", 5060)]]


def test_init_refuses_a_bad_list_or_parameter(tmp_path: Path) -> None:
    path = tmp_path / "list"
    path.write_text("1 sip:a\nbroken\n")
    with pytest.raises(ValueError, match="list:2"):
        mod.init({"list_file": str(path)})
    with pytest.raises(ValueError, match="ds_probing_mode"):
        mod.init({"ds_probing_mode": 7})
    with pytest.raises(ValueError, match="reply_codes"):
        mod.init({"ds_ping_reply_codes": "code=abc"})
    mod.destroy()


def test_reply_codes() -> None:
    codes = ReplyCodes.parse("code=404;class=3")
    assert [codes.accepts(s) for s in (200, 202, 302, 404, 408, 500)] == \
        [True, False, True, True, False, False]
    assert not ReplyCodes().accepts(202)  # only 200 by default (README §3.24)


# ---- algorithms ----------------------------------------------------------------------------

def one_set(text: str) -> object:
    return build_sets(parse_list(text))[1]


THREE = "1 sip:a.invalid\n1 sip:b.invalid\n1 sip:c.invalid\n"  # indexed c, b, a


def picks(dset: object, alg: int, n: int, **kw: object) -> list[str]:
    return [choose(dset, alg, **kw)[0].uri[4] for _ in range(n)]  # type: ignore[arg-type]


def test_kamailio_hash() -> None:
    # ds_get_hash's arithmetic: unsigned 32 bits, never 0 ("" hashes as 1)
    assert ds_hash("") == 1
    assert ds_hash("abcd") == ds_hash("abcd", None) != ds_hash("abcd", "x")
    assert 0 < ds_hash("some-call-id@10.0.0.1") < 2 ** 32


@pytest.mark.parametrize(("callid", "index"), [
    # what Kamailio 5.6.3 picked with ds_select_dst(1, 0) from a set of three of
    # equal priority (index = ds_get_hash % 3); bytes >= 0x80 count as signed chars
    # (an unsigned reading gives index 2 for the first)
    ("caf\u00e9-\u00fc\u00df@x", 0),
    (b"\xff\xfe\x80\x81A".decode("utf-8", "surrogateescape"), 2),  # not even UTF-8
    ("abc", 0), ("c3", 2),
])
def test_kamailio_hash_of_non_ascii_call_ids(callid: str, index: int) -> None:
    assert ds_hash(callid) % 3 == index


def test_hash_algorithms_move_on_from_an_unusable_destination() -> None:
    dset = one_set(THREE)
    key = 4  # 4 % 3 == 1: b (index 0 is c)
    assert [d.uri[4] for d in choose(dset, 0, key)] == ["b", "a", "c"]  # type: ignore[arg-type]
    dset.dests[1].flags = INACTIVE  # type: ignore[attr-defined]
    assert [d.uri[4] for d in choose(dset, 0, key)] == ["a", "c"]  # type: ignore[arg-type]
    key = 5  # index 2: a, the file's first line
    assert [d.uri[4] for d in choose(dset, 0, key)] == ["a", "c"]  # type: ignore[arg-type]


def test_round_robin_skips_inactive_and_alg5_without_credentials_is_round_robin() -> None:
    dset = one_set(THREE)
    # from index 0, the file's last line (Kamailio's alg 4: idx->last from 0)
    assert picks(dset, 4, 4) == ["c", "b", "a", "c"]
    dset.dests[0].flags = INACTIVE  # type: ignore[attr-defined]
    assert picks(dset, 5, 3) == ["b", "a", "b"]


def test_random_uses_the_given_source() -> None:
    dset = one_set(THREE)
    got = Counter(picks(dset, 6, 300, rng=random.Random(1)))
    assert set(got) == {"a", "b", "c"} and min(got.values()) > 50


def test_priority_takes_the_first_available() -> None:
    dset = one_set("1 sip:a.invalid 0 1\n1 sip:b.invalid 0 9\n")
    assert picks(dset, 8, 2) == ["b", "b"]
    dset.dests[0].flags = INACTIVE  # type: ignore[attr-defined]
    assert picks(dset, 8, 1) == ["a"]


def test_weight_gives_each_its_percentage_over_100_calls() -> None:
    dset = one_set("1 sip:a.invalid 0 0 weight=50\n1 sip:b.invalid 0 0 weight=30\n"
                   "1 sip:c.invalid 0 0 weight=10\n")
    got = Counter(picks(dset, 9, 100))
    # a, the last index (the file's first line), fills up to 100 (dp_init_weights)
    assert got == {"a": 60, "b": 30, "c": 10}


def test_relative_weight_is_shared_among_the_active_ones() -> None:
    dset = one_set("1 sip:a.invalid 0 0 rweight=1\n1 sip:b.invalid 0 0 rweight=2\n"
                   "1 sip:c.invalid 0 0 rweight=1\n")
    assert Counter(picks(dset, 11, 100)) == {"a": 25, "b": 50, "c": 25}
    dset.dests[2].flags = INACTIVE  # type: ignore[attr-defined]  # a (indexed c, b, a)
    # README's 33/67/0: the last active index (b) gets the slot lost to truncation
    assert Counter(picks(dset, 11, 100)) == {"c": 33, "b": 67}


def test_call_load_and_maxload() -> None:
    dset = one_set("1 sip:a.invalid 0 0 duid=a;maxload=1\n1 sip:b.invalid 0 0 duid=b\n")
    load = {"a": 0, "b": 3}
    assert picks(dset, 10, 1, load=lambda d: load[d.attrs.duid]) == ["a"]
    load["a"] = 1  # full
    assert picks(dset, 10, 1, load=lambda d: load[d.attrs.duid]) == ["b"]
    assert dset.dests[0].uri == "sip:b.invalid"  # type: ignore[attr-defined]
    dset.dests[0].flags = INACTIVE  # type: ignore[attr-defined]
    assert choose(dset, 10, load=lambda d: load[d.attrs.duid]) == []  # type: ignore[arg-type]


def test_latency_prefers_the_fast_ones_in_turn() -> None:
    dset = one_set("1 sip:a.invalid 0 30\n1 sip:b.invalid 0 30\n1 sip:c.invalid 0 30\n")
    for dest in dset.dests:  # type: ignore[attr-defined]
        dest.latency.estimate = {"a": 21, "b": 91, "c": 19}[dest.uri[4]]
    # adjusted priorities 30, 27, 30 (README's example): c and a (index order) alternate
    assert picks(dset, 13, 4, use_latency=True) == ["c", "a", "c", "a"]
    assert [d.uri[4] for d in choose(dset, 13, use_latency=True)][1:] == ["a", "b"]  # type: ignore[arg-type]
    assert sorted(picks(dset, 13, 3)) == ["a", "b", "c"]  # no statistics: round robin


def test_use_default_keeps_the_last_one_for_the_end() -> None:
    dset = one_set(THREE)
    # the default is the last index: a, the file's first line
    assert [d.uri[4] for d in choose(dset, 8, use_default=True)] == ["c", "b", "a"]  # type: ignore[arg-type]
    dset.dests[0].flags = dset.dests[1].flags = INACTIVE  # type: ignore[attr-defined]
    assert [d.uri[4] for d in choose(dset, 4, use_default=True)] == ["a"]  # type: ignore[arg-type]


def test_unknown_algorithms_take_the_first_and_12_is_refused() -> None:
    dset = one_set(THREE)
    assert picks(dset, 42, 2) == ["c", "c"]
    assert choose(dset, 12) == []  # type: ignore[arg-type]


def test_sets_from_the_dispatcher_table(tmp_path: Path) -> None:
    from geosip.db import models, schema
    from geosip.db.connect import open_database
    from geosip.modules.dispatcher import rpc

    database = open_database(f"sqlite:///{tmp_path / 'geosip.sqlite'}")
    schema.bind(database)
    schema.migrate(database)
    try:
        with database.connection_context():
            models.Dispatcher.insert_many([
                {"setid": 3, "destination": "sip:127.0.0.1:5070", "priority": 1},
                {"setid": 3, "destination": "sip:127.0.0.1:5071", "flags": 8,
                 "priority": 9, "attrs": "duid=x", "description": "main"}]).execute()
        mod.init({"db_url": "yes", "reload_delta": 0})
        assert STORE.sets == {}  # the table is read once the server has started
        STORE.load()
        targets = [t["DEST"] for t in rpc.ds_list()["RECORDS"][0]["SET"]["TARGETS"]]
        assert [(t["URI"], t["FLAGS"], t.get("DESCRIPTION")) for t in targets] == [
            ("sip:127.0.0.1:5071", "AP", "main"), ("sip:127.0.0.1:5070", "AX", None)]
        with database.connection_context():
            models.Dispatcher.delete().where(models.Dispatcher.priority == 1).execute()
        rpc.ds_reload()
        assert [d.uri for d in STORE.sets[3].dests] == ["sip:127.0.0.1:5071"]
    finally:
        mod.destroy()
        models.database.initialize(None)
