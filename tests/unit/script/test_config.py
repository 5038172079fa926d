"""read_config and merge: the script's `geosip` table (issue 4 item 5).

Cases are tables of Lua sources and the ScriptConfig they give, or the ConfigError
(message part and line) they are refused with. Modules come from a fake lookup so the
cases do not depend on which geosip modules exist; one test uses the real registry.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from geosip.cli.listen import parse_listen
from geosip.cli.run import RunOptions
from geosip.script import registry
from geosip.script.config import (ConfigError, ScriptConfig, TlsSettings, cli_given,
                                  default_script, merge, read_config)
from geosip.script.exports import ModuleExports, Param
from geosip.tm.manager import TmConfig

FAKE_MODULES = {
    "registrar": ModuleExports(name="registrar"),
    "usrloc": ModuleExports(name="usrloc", params=(Param("db_mode", 0), Param("nat_bflag", -1))),
    "dispatcher": ModuleExports(name="dispatcher", params=(
        Param("list_file", "dispatcher.list"), Param("ds_ping_interval", 0),
        Param("ds_probing_threshold", 1.5), Param("use_default", False))),
    "htable": ModuleExports(name="htable", params=(Param("htable", ()), Param("anything", None))),
}


def fake_lookup(name: str) -> ModuleExports:
    try:
        return FAKE_MODULES[name]
    except KeyError:
        raise ValueError(f"unknown module {name!r}") from None


def read(tmp_path: Path, source: str) -> ScriptConfig:
    path = tmp_path / "script.lua"
    path.write_text(source)
    return read_config(path, lookup=fake_lookup)


def config(**fields: Any) -> ScriptConfig:
    return ScriptConfig(**fields)


ROUTE = "function ksr_request_route() KSR.sl.sl_send_reply(200, 'OK') end\n"

GOOD: list[tuple[str, str, dict[str, Any]]] = [
    ("no geosip table", ROUTE, {}),
    ("empty table", "geosip = {}\n" + ROUTE, {}),
    ("the issue's example", """
geosip = {
  listen = { "udp:0.0.0.0:5060", "tcp:0.0.0.0:5060" },
  alias = { "Example.com" },          -- what is_myself() treats as ours
  db_url = "sqlite:///var/lib/geosip/geosip.sqlite",
  log_level = "info",
  tm = { fr_timer = 30000, fr_inv_timer = 120000 },
  modules = {
    registrar = {}, usrloc = { db_mode = 1 },
    dispatcher = { list_file = "/etc/geosip/dispatcher.list", ds_ping_interval = 10 },
  },
  tls = { certificate = "cert.pem", private_key = "key.pem", ca_file = "ca.pem", verify = true },
}
""" + ROUTE, dict(
        listen=("udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"), alias=("example.com",),
        db_url="sqlite:///var/lib/geosip/geosip.sqlite", log_level="info",
        tm=TmConfig(fr_timer=30.0, fr_inv_timer=120.0),
        modules={"registrar": {}, "usrloc": {"db_mode": 1},
                 "dispatcher": {"list_file": "/etc/geosip/dispatcher.list",
                                "ds_ping_interval": 10}},
        tls=TlsSettings("cert.pem", "key.pem", "ca.pem", True))),
    ("one listen string, IPv6 normalised",
     'geosip = { listen = "UDP:[::1]:5070" }', dict(listen=("udp:[::1]:5070",))),
    ("tm in ms -> seconds, Kamailio's names",
     "geosip = { tm = { fr_timer = 1500, wt_timer = 2000, retr_timer1 = 250, retr_timer2 = 2000 } }",
     dict(tm=TmConfig(fr_timer=1.5, wt_timer=2.0, t1=0.25, t2=2.0))),
    ("modules as a list of names", 'geosip = { modules = { "registrar", "usrloc" } }',
     dict(modules={"registrar": {}, "usrloc": {}})),
    ("modules mixed", 'geosip = { modules = { "registrar", usrloc = { db_mode = 2 } } }',
     dict(modules={"registrar": {}, "usrloc": {"db_mode": 2}})),
    ("empty modules table: no module", "geosip = { modules = {} }", dict(modules={})),
    ("parameter types: 0/1 for a boolean, float for a float, 10.0 for an int",
     "geosip = { modules = { dispatcher = { use_default = 1, ds_probing_threshold = 2,"
     " ds_ping_interval = 10.0 } } }",
     dict(modules={"dispatcher": {"use_default": True, "ds_probing_threshold": 2.0,
                                  "ds_ping_interval": 10}})),
    ("a repeated modparam as a list",
     'geosip = { modules = { htable = { htable = { "a=>size=4", "b=>size=8" }, anything = "x" } } }',
     dict(modules={"htable": {"htable": ("a=>size=4", "b=>size=8"), "anything": "x"}})),
    ("log level, case folded", 'geosip = { log_level = "DEBUG" }', dict(log_level="debug")),
    ("postgres url", 'geosip = { db_url = "postgresql://geosip@db/geosip" }',
     dict(db_url="postgresql://geosip@db/geosip")),
    ("built by code", 'local port = 5000 + 80\n'
     'geosip = { listen = { "udp:127.0.0.1:" .. port } }', dict(listen=("udp:127.0.0.1:5080",))),
    ("tls verify off", "geosip = { tls = { verify = false, require_client_cert = true } }",
     dict(tls=TlsSettings(verify=False, require_client_cert=True))),
    ("KSR used inside routes only", "function f() return KSR.pv.get('$ru') end\ngeosip = {}",
     {}),
]


@pytest.mark.parametrize(("source", "fields"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_good(tmp_path: Path, source: str, fields: dict[str, Any]) -> None:
    got = read(tmp_path, source)
    assert got == config(script=str(tmp_path / "script.lua"), **fields)


# (name, source, part of the message, line)
BAD: list[tuple[str, str, str, int | None]] = [
    ("unknown top-level key", """
geosip = {
  listen = { "udp:127.0.0.1:5060" },
  lissen = { "tcp:127.0.0.1:5060" },
}""", "unknown key geosip.lissen", 4),
    ("unknown module", """
geosip = {
  modules = {
    registrar = {},
    usrlok = { db_mode = 1 },
  },
}""", "unknown module usrlok", 5),
    ("unknown module parameter", """
geosip = {
  modules = {
    usrloc = {
      db_mode = 1,
      db_mdoe = 2,
    },
  },
}""", "unknown parameter db_mdoe of module usrloc (its parameters: db_mode, nat_bflag)", 6),
    ("the same name earlier in a comment and elsewhere", """
-- modules: dispatcher with ds_ping_intervall
local dispatcher = "x"
geosip = {
  modules = { usrloc = {},
    dispatcher = {
      ds_ping_intervall = 10 } },
}""", "unknown parameter ds_ping_intervall of module dispatcher", 7),
    ("parameter of the wrong type", """
geosip = {
  modules = { usrloc = { db_mode = "yes" } },
}""", "usrloc.db_mode must be an integer, not 'yes'", 3),
    ("a module named twice", 'geosip = {\n  modules = { "usrloc",\n    usrloc = { db_mode = 1 } } }',
     "geosip.modules names usrloc twice", 2),
    ("an unknown module in the list part", 'geosip = { modules = {\n  "registrar",\n  "usrlok" } }',
     "unknown module usrlok", 3),
    ("fields assigned one by one", """geosip = {}
geosip.listen = { "udp:127.0.0.1:5060" }
geosip.tm = { fr_timer = 1000,
  fr_inv = 2 }""", "unknown tm parameter fr_inv", 4),
    ("a local geosip table", "local x = 1\nlocal geosip = { listen = {} }",
     "geosip must be a global table: drop the `local`", 2),
    ("a core module", "geosip = {\n modules = { pv = {} } }",
     "module pv is part of geosip's core", 2),
    ("a bare name that is not a string", "geosip = { modules = { 5 } }",
     "5 is not a module name", 1),
    ("bad listen", """
geosip = {
  listen = {
    "udp:127.0.0.1:5060",
    "udp:127.0.0.1:99999",
  },
}""", "port 99999 is out of range", 5),
    ("empty listen", "geosip = {\n  listen = {} }", "geosip.listen is empty", 2),
    ("listen not a list", 'geosip = {\n  listen = { udp = "127.0.0.1:5060" } }',
     "geosip.listen must be a list", 2),
    ("log level", 'geosip = {\n\n  log_level = "loud" }',
     "geosip.log_level must be one of debug, info, warning, error, not 'loud'", 3),
    ("tm unknown", "geosip = { tm = {\n fr_timeout = 1 } }", "unknown tm parameter fr_timeout", 2),
    ("tm negative", "geosip = { tm = {\n fr_timer = -1 } }",
     "geosip.tm.fr_timer must be a positive number of milliseconds, not -1", 2),
    ("tm string", 'geosip = { tm = {\n fr_timer = "30s" } }', "not '30s'", 2),
    ("db_url scheme", 'geosip = {\n db_url = "mysql://x" }', "expected sqlite://...", 2),
    ("tls type", 'geosip = { tls = {\n  verify = "yes" } }', "geosip.tls.verify must be a boolean", 2),
    ("tls unknown", "geosip = { tls = {\n  ca_list = 'x' } }", "unknown tls setting ca_list", 2),
    ("geosip not a table", 'geosip = "udp:127.0.0.1:5060"', "geosip must be a table", 1),
    ("a function value", "geosip = {\n  alias = function() end }",
     "geosip.alias: function values are not configuration", 2),
    ("a cycle", "local t = {}\nt.t = t\ngeosip = { modules = { htable = { anything = t } } }",
     "nested too deep", 3),
    ("KSR at the top level",
     "geosip = {}\nlocal x = 1\nlocal ru = KSR.pv.get('$ru')\n" + ROUTE,
     "KSR is not available at the top level of the script: use it inside routes (KSR.pv)", 3),
    ("syntax error", "geosip = {\n  listen = { 'udp:127.0.0.1:5060' }\n  alias = {}\n}",
     "'}' expected (to close '{' at line 1) near 'alias'", 3),
    ("runtime error at the top level", "local t = nil\n\nlocal x = t.field",
     "attempt to index a nil value", 3),
    ("io at the top level (sandbox)", "geosip = {}\nio.write('x')", "attempt to index a nil value", 2),
]


@pytest.mark.parametrize(("source", "message", "line"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad(tmp_path: Path, source: str, message: str, line: int | None) -> None:
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, source)
    error = caught.value
    path = str(tmp_path / "script.lua")
    assert message in error.message
    assert (error.path, error.line) == (path, line)
    assert str(error).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the script"):
        read_config(tmp_path / "missing.lua")


def test_real_registry_refuses_an_unknown_module(tmp_path: Path) -> None:
    path = tmp_path / "script.lua"
    path.write_text("geosip = {\n  modules = { no_such_module = {} } }\n")
    with pytest.raises(ConfigError, match=r":2: unknown module no_such_module"):
        read_config(path)


@pytest.mark.parametrize("name", registry.DEFAULT_MODULES)
def test_real_registry_knows_the_default_modules(tmp_path: Path, name: str) -> None:
    registry.module_exports([name])  # raises ValueError for a module that is missing
    path = tmp_path / "script.lua"
    path.write_text(f"geosip = {{ modules = {{ {name} = {{}} }} }}\n")
    assert read_config(path).modules == {name: {}}


def test_default_script_reads(tmp_path: Path) -> None:
    """scripts/default.lua: the embedded defaults (`geosip run` with no file)."""
    got = read_config(default_script())
    assert got.listen == ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
    # the default set plus the registrar, its location store, digest authentication
    # and the NAT helpers
    assert got.modules == {name: {} for name in (*registry.DEFAULT_MODULES, "usrloc",
                                                  "registrar", "auth", "auth_db",
                                                  "nathelper")}
    assert dataclasses.replace(got, script=None, modules=None) == ScriptConfig()


# ---- merge: the command line wins ----------------------------------------------------

SCRIPT = ScriptConfig(script="s.lua", listen=("udp:0.0.0.0:5060",), alias=("example.com",),
                      log_level="debug", tm=TmConfig(fr_timer=10.0, fr_inv_timer=60.0, wt_timer=2.0),
                      modules={"usrloc": {"db_mode": 1}},
                      tls=TlsSettings("c.pem", "k.pem", None, True))


def options(**fields: Any) -> RunOptions:
    listens = [parse_listen(s) for s in ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")]
    return RunOptions(**{"config": "s.lua", "listens": listens, "data_dir": "d", **fields})


def test_merge_nothing_given_keeps_the_script() -> None:
    assert cli_given(options()) == set()
    assert merge(SCRIPT, options()) == SCRIPT


def test_merge_given_values_win() -> None:
    cli = options(listens=[parse_listen("tcp:127.0.0.2:5070")], aliases=["Other.org"],
                  log_level="error", fr_timer=5.0, tls_ca_file="ca.pem", tls_verify=False)
    assert cli_given(cli) == {"listens", "aliases", "log_level", "fr_timer", "tls_ca_file",
                              "tls_verify"}
    assert merge(SCRIPT, cli) == dataclasses.replace(
        SCRIPT, listen=("tcp:127.0.0.2:5070",), alias=("other.org",), log_level="error",
        tm=TmConfig(fr_timer=5.0, fr_inv_timer=60.0, wt_timer=2.0),
        tls=TlsSettings("c.pem", "k.pem", "ca.pem", False))


def test_merge_with_given_names_exactly() -> None:
    """main.py can say what was typed: an explicit value equal to the default wins too."""
    merged = merge(SCRIPT, options(), given={"listens", "fr_inv_timer", "log_level"})
    assert merged.listen == ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
    assert merged.tm == TmConfig(fr_timer=10.0, fr_inv_timer=120.0, wt_timer=2.0)
    assert merged.log_level == "info"
    assert merged.modules == SCRIPT.modules and merged.alias == SCRIPT.alias


def test_listens_parsed() -> None:
    assert SCRIPT.listens == (parse_listen("udp:0.0.0.0:5060"),)


def test_workers(tmp_path: Path) -> None:
    assert read(tmp_path, "geosip = { workers = 4 }").workers == 4
    assert read(tmp_path, "geosip = {}").workers == 1
    for bad in ("0", "65", "1.5", '"2"'):
        with pytest.raises(ConfigError, match=r":1: geosip.workers must be a whole number"):
            read(tmp_path, f"geosip = {{ workers = {bad} }}")
