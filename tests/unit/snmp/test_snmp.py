"""The agent's pure parts: the snmp settings table, the answers built from a snapshot of
the core, the trap decisions between polls, and the config.py hook."""

from __future__ import annotations

import pytest
from pysnmp.proto import rfc1902

from geosip.script.config import ConfigError, read_config
from geosip.snmp import mib, source, traps
from geosip.snmp.settings import SettingError, SnmpSettings, Threshold, parse, with_listen

ENT = (1, 3, 6, 1, 4, 1, 99999)


# ---- settings ----------------------------------------------------------------------------

def test_settings_table() -> None:
    s = parse({"listen": "127.0.0.1:1161", "community": "c",
               "v3": {"user": "ops", "auth_key": "authpass1", "priv_key": "privpass1",
                      "auth_protocol": "sha256", "priv_protocol": "aes256"},
               "trap_sink": "127.0.0.1:1162",
               "thresholds": {"active_dialogs": 100,
                              "transactions": {"rising": 50, "falling": 10}}})
    assert s.v3 is not None and (s.v3.auth_protocol, s.v3.priv_protocol) == ("SHA256", "AES256")
    assert s.thresholds == (Threshold("dialog:active_dialogs", 100, 90),
                            Threshold("tm:inuse_transactions", 50, 10))
    assert SnmpSettings.from_json(s.to_json()) == s
    assert parse({}).listen == "127.0.0.1"  # a table alone enables the agent on loopback


@pytest.mark.parametrize("table, where", [
    ({"port": 1}, ("port",)),
    ({"listen": "127.0.0.1:99999"}, ("listen",)),
    ({"community": ""}, ("community",)),
    ({"v3": {"auth_key": "authpass1"}}, ("v3",)),                  # no user
    ({"v3": {"user": "u", "auth_key": "short"}}, ("v3", "auth_key")),  # RFC 3414 11.2
    ({"v3": {"user": "u", "priv_key": "privpass1"}}, ("v3", "priv_key")),  # priv needs auth
    ({"v3": {"user": "u", "auth_key": "authpass1", "auth_protocol": "SHA3"}},
     ("v3", "auth_protocol")),
    ({"thresholds": {"nonsense": 3}}, ("thresholds", "nonsense")),
    ({"thresholds": {"transactions": {"rising": 5, "falling": 5}}},
     ("thresholds", "transactions")),
])
def test_settings_refused(table: dict, where: tuple[str, ...]) -> None:
    with pytest.raises(SettingError) as info:
        parse(table)
    assert info.value.where == where


def test_command_line_listen_wins() -> None:
    s = with_listen(parse({"listen": "127.0.0.1:1161", "community": "c"}), "127.0.0.2:2000")
    assert (s.listen, s.community) == ("127.0.0.2:2000", "c")
    with pytest.raises(SettingError):
        with_listen(None, "127.0.0.1:x")


def test_script_table_read_and_refused_with_its_line(tmp_path) -> None:
    good = tmp_path / "good.lua"
    good.write_text('geosip = { snmp = { listen = "127.0.0.1:1161", community = "c" } }\n')
    assert read_config(good).snmp == SnmpSettings(listen="127.0.0.1:1161", community="c")
    bad = tmp_path / "bad.lua"
    bad.write_text('geosip = {\n  snmp = {\n    community = 7,\n  },\n}\n')
    with pytest.raises(ConfigError) as info:
        read_config(bad)
    assert info.value.line == 3 and "geosip.snmp: community" in str(info.value)


# ---- answers -----------------------------------------------------------------------------

def snapshot(**stats: int) -> source.Snapshot:
    names = {k.replace("__", ":"): v for k, v in stats.items()}
    return source.Snapshot(True, names, 42, "geosip 0.1.0",
                           (source.Dest(1, 1, "sip:a.test", "AP"),
                            source.Dest(1, 2, "sip:b.test", "IP")))


def test_values_from_a_snapshot() -> None:
    v = mib.values(snapshot(core__rcv_requests=2**32 + 5, core__rcv_requests_invite=3,
                            tm__UAS_transactions=4, tm__UAC_transactions=6,
                            usrloc__registered_users=2, gateway__xmpp_up=1))
    assert v[ENT + (1, 1, 2, 0)] == rfc1902.TimeTicks(4200)
    assert v[ENT + (1, 2, 1, 0)] == rfc1902.Counter32(5)             # Counter32 wraps
    assert ENT + (1, 2, 2, 0) not in v                               # not in the core's
    assert v[ENT + (1, 3, 1, 2, 6, *b"INVITE")] == rfc1902.Counter32(3)
    assert v[ENT + (1, 5, 1, 0)] == rfc1902.Gauge32(2)
    assert v[ENT + (1, 6, 1, 4, 1, 2)] == rfc1902.Integer32(3)       # inactive
    assert v[ENT + (1, 6, 1, 5, 1, 1)] == rfc1902.Integer32(1)       # probing: true
    assert v[ENT + (1, 7, 1, 2, 1)] == rfc1902.OctetString("xmpp")
    sip = (1, 3, 6, 1, 2, 1, 149, 1)
    assert v[sip + (3, 1, 1, 1, 1)] == rfc1902.Counter32(5)          # InRequests
    assert v[sip + (3, 1, 1, 5, 1)] == rfc1902.Counter32(10)         # TotalTransactions
    assert v[sip + (4, 1, 1, 3, 1, 6, *b"INVITE")] == rfc1902.Counter32(3)
    assert sip + (3, 1, 1, 4, 1) not in v     # OutResponses: no counter says it


def test_gateway_rows_from_their_reports() -> None:
    """geosipGatewayTable: SipIn/SipOut/Link from what each gateway reported; a gateway
    that has not reported yet has only its name and state."""
    v = mib.values(snapshot(gateway__sms_up=1, gateway__sms_sip_received=5,
                            gateway__sms_sip_sent=2, gateway__sms_bound=0,
                            gateway__xmpp_up=0))
    sms, xmpp = 1, 2  # rows by name
    assert v[ENT + (1, 7, 1, 2, sms)] == rfc1902.OctetString("sms")
    assert v[ENT + (1, 7, 1, 4, sms)] == rfc1902.Counter32(5)
    assert v[ENT + (1, 7, 1, 5, sms)] == rfc1902.Counter32(2)
    assert v[ENT + (1, 7, 1, 6, sms)] == rfc1902.Integer32(2)        # link down
    assert v[ENT + (1, 7, 1, 3, xmpp)] == rfc1902.Integer32(2)
    assert all(ENT + (1, 7, 1, column, xmpp) not in v for column in (4, 5, 6))


def test_unreachable_core_answers_only_its_state() -> None:
    v = mib.values(source.Snapshot(False))
    assert v[ENT + (1, 1, 3, 0)] == rfc1902.Integer32(2)
    assert all(oid[:9] == ENT + (1, 1) for oid in v)


def test_batch_answer_parsed() -> None:
    answer = (b'[{"jsonrpc":"2.0","id":1,"result":{"core.rcv_requests":"7",'
              b'"shmem.used_size":"1.5"}},{"jsonrpc":"2.0","id":2,"result":{"uptime":9}},'
              b'{"jsonrpc":"2.0","id":3,"result":"geosip 0.1.0"},'
              b'{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"Method Not Found"}}]')
    snap = source.parse(answer)
    assert (snap.stats, snap.uptime, snap.dests) == (
        {"core:rcv_requests": 7, "shmem:used_size": 1.5}, 9, ())


# ---- traps -------------------------------------------------------------------------------

def kinds(events: list[traps.Event]) -> list[int]:
    return [e.trap[-1] for e in events]


def test_watcher() -> None:
    w = traps.Watcher((Threshold("dialog:active_dialogs", 10, 8),))
    a_up = source.Dest(1, 1, "sip:a.test", "AP")
    a_down = source.Dest(1, 1, "sip:a.test", "IP")
    first = source.Snapshot(True, {"dialog:active_dialogs": 0}, dests=(a_down,))
    assert kinds(w.events(first)) == [1]                # start; no trap for a first state
    assert w.events(source.Snapshot(False)) == []       # unreachable: nothing changes
    up = w.events(source.Snapshot(True, {"dialog:active_dialogs": 10}, dests=(a_up,)))
    assert kinds(up) == [3, 4]                           # destination up, threshold raised
    assert up[0].varbinds[0][1] == rfc1902.OctetString("sip:a.test")
    assert w.events(source.Snapshot(True, {"dialog:active_dialogs": 9}, dests=(a_up,))) == []
    down = w.events(source.Snapshot(True, {"dialog:active_dialogs": 8}, dests=(a_down,)))
    assert kinds(down) == [2, 5]                         # down, threshold cleared
