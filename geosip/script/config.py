"""The script's `geosip` table: geosip's configuration, written in Lua (DESIGN.md, "Config
is Lua too"; issue 4 item 5).

    geosip = {
      listen = { "udp:0.0.0.0:5060", "tcp:0.0.0.0:5060" },
      alias = { "example.com" },
      db_url = "sqlite:////var/lib/geosip/geosip.sqlite",
      log_level = "info",
      workers = 1,                        -- processes sharing the SIP ports (cli/workers.py)
      tm = { fr_timer = 30000, fr_inv_timer = 120000, wt_timer = 5000 },   -- ms
      modules = { registrar = {}, usrloc = { db_mode = 1 } },               -- modparams
      tls = { certificate = "...", private_key = "...", ca_file = "...", verify = true },
      rpc = { socket = "/run/geosip/geosip_ctl", http = "127.0.0.1:5080",          -- control
              auth = "admin:secret", allow = { "10.0.0.0/8" } },
      gateways = { xmpp = { component = "sip.example.com", secret = "..." } },  -- children
    }

`gateways` names the gateway processes `geosip run` starts and supervises
(geosip/cli/children.py): { <name> = { setting = value } } for a package
geosip.gateways.<name>; its settings are checked by that package's `settings.check(dict)`
when it has a settings module (pure: no asyncio, no gevent) and are handed to the process
as JSON. `enabled = false` keeps a gateway's table but does not start it.

Contract: `read_config(path)` runs the script's top level once, in a throwaway sandbox
whose KSR table refuses every access (KSR only exists inside routes), reads the global
`geosip` (absent: every default) and returns a frozen ScriptConfig. Every refusal is a
ConfigError naming the script's file and line: a syntax or runtime error at the top
level, a value of the wrong type, an unknown key, module or module parameter. The
engine loads the script again into its own runtime afterwards, so the top level runs
twice and must have no effect beyond defining globals (it cannot have any: the sandbox
has no io and no KSR there).

`merge(config, options)` lays the command line over it: what `geosip run` was given
explicitly wins over the script.

Time values are milliseconds in the script, as Kamailio's tm writes them, and seconds in
ScriptConfig.tm (a TmConfig).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lua54

from geosip.cli.listen import Listen, parse_listen
from geosip.tm.manager import TmConfig

from . import registry
from .exports import ModuleExports
from .sandbox import Sandbox
from geosip.snmp.settings import SettingError, SnmpSettings, parse as parse_snmp

if TYPE_CHECKING:  # geosip.cli.run imports gevent: only after monkey-patching (main.py)
    from geosip.cli.run import RunOptions

DEFAULT_LISTEN = ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
LOG_LEVELS = ("debug", "info", "warning", "error")
DB_SCHEMES = ("sqlite", "postgres", "postgresql")
KEYS = ("listen", "alias", "db_url", "log_level", "workers", "tm", "modules", "tls", "rpc",
        "gateways", "snmp")
# tm parameter (Kamailio's name, in ms) -> TmConfig field (seconds)
MAX_WORKERS = 64
TM_KEYS = {"fr_timer": "fr_timer", "fr_inv_timer": "fr_inv_timer", "wt_timer": "wt_timer",
           "retr_timer1": "t1", "retr_timer2": "t2"}
TLS_KEYS = ("certificate", "private_key", "ca_file", "verify", "require_client_cert")
RPC_KEYS = ("socket", "http", "auth", "allow")
_MAX_DEPTH = 8  # nesting of Lua tables; deeper (or a cycle) is refused

_KSR_AT_TOP_LEVEL = r'''
return setmetatable({}, {
  __metatable = false,
  __index = function(_, name)
    error("KSR is not available at the top level of the script: use it inside routes"
          .. " (KSR." .. tostring(name) .. ")", 2)
  end,
  __newindex = function()
    error("KSR is not available at the top level of the script: use it inside routes", 2)
  end,
})
'''


class ConfigError(Exception):
    """The script's configuration is refused. `str()` reads `file:line: message`
    (without the line when it cannot be told)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = path or "<script>"
        super().__init__(f"{where}:{line}: {message}" if line else f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """PEM files for tls/wss listeners and how peers are verified (TransportConfig)."""

    certificate: str | None = None
    private_key: str | None = None
    ca_file: str | None = None           # None: the system's default store
    verify: bool = True                  # verify servers we connect to
    require_client_cert: bool = False    # refuse inbound TLS clients without a valid one


@dataclass(frozen=True, slots=True)
class RpcSettings:
    """The control interface (geosip/rpc): its Unix socket (None: <data-dir>/geosip_ctl),
    HTTP ADDR:PORT (None: no HTTP), basic auth "user:password" and allowed networks."""

    socket: str | None = None
    http: str | None = None
    auth: str | None = None
    allow: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScriptConfig:
    """What the `geosip` table says, every field filled with its default when absent.

    `modules` is None when the script names no modules (the registry then loads
    DEFAULT_MODULES), else {module: {parameter: value}} with Kamailio's names. `db_url`
    None means the default database (SQLite in the data dir; the database issue decides).
    """

    script: str | None = None
    listen: tuple[str, ...] = DEFAULT_LISTEN
    alias: tuple[str, ...] = ()
    db_url: str | None = None
    log_level: str = "info"
    workers: int = 1
    tm: TmConfig = TmConfig()
    modules: dict[str, dict[str, Any]] | None = None
    tls: TlsSettings = TlsSettings()
    rpc: RpcSettings = RpcSettings()
    snmp: SnmpSettings | None = None  # the SNMP agent (snmp/settings.py); None: none
    gateways: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def listens(self) -> tuple[Listen, ...]:
        """`listen` parsed (each was checked by read_config)."""
        return tuple(parse_listen(spec) for spec in self.listen)


def default_script() -> Path:
    """scripts/default.lua as installed (package geosip.scripts, setup.py)."""
    from importlib.resources import files
    return Path(str(files("geosip.scripts") / "default.lua"))


# ---- reading ------------------------------------------------------------------------


ModuleLookup = Callable[[str], ModuleExports]


def _registry_lookup(name: str) -> ModuleExports:
    return registry.module_exports([name])[0]


def read_config(path: str | Path, lookup: ModuleLookup = _registry_lookup) -> ScriptConfig:
    """Run the script's top level and read its `geosip` table. `lookup(name)` gives a
    module's exports and raises ValueError for an unknown one (tests pass their own).
    Raises ConfigError (with file and line) for anything refused."""
    path = str(path)
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the script: {exc}", path) from None
    box = Sandbox()
    ksr = box.eval(_KSR_AT_TOP_LEVEL)
    try:
        env = box.load(source, path, box.table({"KSR": ksr}))
    except lua54.LuaError as exc:
        raise _lua_error(exc, path) from None
    reader = _Reader(path, source, lookup)
    table = env["geosip"]
    if table is None:
        local = re.search(r"(?<![\w.])local\s+geosip(?!\w)", reader.lines.text)
        if local:  # silently running on defaults would hide the mistake
            raise ConfigError("geosip must be a global table: drop the `local`", path,
                              reader.lines.text.count("\n", 0, local.start()) + 1)
        return ScriptConfig(script=path)
    return reader.read(table)


def _lua_error(exc: lua54.LuaError, path: str) -> ConfigError:
    text = str(exc).split("\nstack traceback:")[0]
    # Lua cuts a long chunk name to LUA_IDSIZE (60) characters in its messages, keeping
    # the end of a file name ("...tail", the sandbox loads chunks as "@path").
    found = re.match(r"(.+?):(\d+): (.*)", text, re.S)
    if found:
        name = found.group(1)
        if name == path or (name.startswith("...") and path.endswith(name[3:])):
            return ConfigError(found.group(3), path, int(found.group(2)))
    return ConfigError(text, path)


class _Reader:
    """Converts and checks the table; knows the source to name lines."""

    def __init__(self, path: str, source: str, lookup: ModuleLookup) -> None:
        self.path = path
        self.lookup = lookup
        self.lines = _Lines(source)

    def fail(self, message: str, *where: str) -> ConfigError:
        return ConfigError(message, self.path, self.lines.find(where))

    def read(self, table: Any) -> ScriptConfig:
        top = self.convert(table, ("geosip",), 0)
        if not isinstance(top, dict):
            raise self.fail(f"geosip must be a table, not {_kind(top)}")
        for key in top:
            if key not in KEYS:
                raise self.fail(f"unknown key geosip.{key} (known: {', '.join(KEYS)})", str(key))
        fields: dict[str, Any] = {"script": self.path}
        if "listen" in top:
            fields["listen"] = self.read_listen(top["listen"])
        if "alias" in top:
            fields["alias"] = tuple(a.lower() for a in
                                    self.strings(top["alias"], "alias", allow_one=True))
        if "db_url" in top:
            fields["db_url"] = self.read_db_url(top["db_url"])
        if "log_level" in top:
            level = top["log_level"]
            if not isinstance(level, str) or level.lower() not in LOG_LEVELS:
                raise self.fail(f"geosip.log_level must be one of {', '.join(LOG_LEVELS)}, "
                                f"not {level!r}", "log_level")
            fields["log_level"] = level.lower()
        if "workers" in top:
            workers = top["workers"]
            if type(workers) is not int or not 1 <= workers <= MAX_WORKERS:
                raise self.fail(f"geosip.workers must be a whole number from 1 to "
                                f"{MAX_WORKERS}, not {workers!r}", "workers")
            fields["workers"] = workers
        if "tm" in top:
            fields["tm"] = self.read_tm(top["tm"])
        if "modules" in top:
            fields["modules"] = self.read_modules(top["modules"])
        if "tls" in top:
            fields["tls"] = self.read_tls(top["tls"])
        if "rpc" in top:
            fields["rpc"] = self.read_rpc(top["rpc"])
        if "snmp" in top:
            fields["snmp"] = self.read_snmp(top["snmp"])
        if "gateways" in top:
            fields["gateways"] = self.read_gateways(top["gateways"])
        return ScriptConfig(**fields)

    # -- conversion: Lua tables become dicts keyed as in Lua (int or str) ----------------

    def convert(self, value: Any, where: tuple[str, ...], depth: int) -> Any:
        kind = lua54.lua_type(value)
        if kind is None:            # already Python: str, int, float, bool
            return value
        if kind != "table":
            raise self.fail(f"{'.'.join(where)}: {kind} values are not configuration", *where[1:])
        if depth >= _MAX_DEPTH:
            raise self.fail(f"{'.'.join(where)}: tables nested too deep (a cycle?)", *where[1:])
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise self.fail(f"{'.'.join(where)}: keys must be names or positions", *where[1:])
            out[key] = self.convert(item, (*where, str(key)), depth + 1)
        return out

    def sequence(self, value: Any, name: str, allow_one: bool = False) -> tuple[Any, ...]:
        """An array ({ "a", "b" }); with allow_one a single scalar counts as { x }."""
        if allow_one and not isinstance(value, dict):
            return (value,)
        if not isinstance(value, dict) or sorted(value) != list(range(1, len(value) + 1)):
            raise self.fail(f"geosip.{name} must be a list, e.g. {{ \"...\", \"...\" }}", name)
        return tuple(value[i] for i in range(1, len(value) + 1))

    def strings(self, value: Any, name: str, allow_one: bool = False) -> tuple[str, ...]:
        items = self.sequence(value, name, allow_one)
        for item in items:
            if not isinstance(item, str) or not item:
                raise self.fail(f"geosip.{name}: expected non-empty strings, got {item!r}", name)
        return items

    # -- the keys ------------------------------------------------------------------------

    def read_listen(self, value: Any) -> tuple[str, ...]:
        specs = self.strings(value, "listen", allow_one=True)
        if not specs:
            raise self.fail("geosip.listen is empty: give at least one address", "listen")
        out = []
        for spec in specs:
            try:
                out.append(str(parse_listen(spec)))
            except ValueError as exc:
                raise self.fail(f"geosip.listen: {exc}", "listen", _quoted(spec)) from None
        return tuple(out)

    def read_db_url(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(f"geosip.db_url must be a string, not {_kind(value)}", "db_url")
        scheme = value.partition("://")[0].lower()
        if "://" not in value or scheme not in DB_SCHEMES:
            raise self.fail(f"geosip.db_url {value!r}: expected "
                            f"{' or '.join(s + '://...' for s in DB_SCHEMES)}", "db_url")
        return value

    def read_tm(self, value: Any) -> TmConfig:
        if not isinstance(value, dict):
            raise self.fail(f"geosip.tm must be a table, not {_kind(value)}", "tm")
        seconds: dict[str, float] = {}
        for key, ms in value.items():
            if key not in TM_KEYS:
                raise self.fail(f"unknown tm parameter {key} (known: {', '.join(TM_KEYS)})",
                                "tm", str(key))
            if not _is_number(ms) or not 0 < ms < 86_400_000:
                raise self.fail(f"geosip.tm.{key} must be a positive number of "
                                f"milliseconds, not {ms!r}", "tm", key)
            seconds[TM_KEYS[key]] = ms / 1000
        return dataclasses.replace(TmConfig(), **seconds)

    def read_tls(self, value: Any) -> TlsSettings:
        if not isinstance(value, dict):
            raise self.fail(f"geosip.tls must be a table, not {_kind(value)}", "tls")
        fields: dict[str, Any] = {}
        for key, item in value.items():
            if key not in TLS_KEYS:
                raise self.fail(f"unknown tls setting {key} (known: {', '.join(TLS_KEYS)})",
                                "tls", str(key))
            want = bool if key in ("verify", "require_client_cert") else str
            if not isinstance(item, want):
                raise self.fail(f"geosip.tls.{key} must be a "
                                f"{'boolean' if want is bool else 'string'}, not {item!r}",
                                "tls", key)
            fields[key] = item
        return TlsSettings(**fields)

    def read_rpc(self, value: Any) -> RpcSettings:
        from geosip.rpc.address import parse_http  # pure: no sockets, no gevent

        if not isinstance(value, dict):
            raise self.fail(f"geosip.rpc must be a table, not {_kind(value)}", "rpc")
        fields: dict[str, Any] = {}
        for key, item in value.items():
            if key not in RPC_KEYS:
                raise self.fail(f"unknown rpc setting {key} (known: {', '.join(RPC_KEYS)})",
                                "rpc", str(key))
            if key == "allow":
                fields[key] = self.strings(item, "rpc.allow", allow_one=True)
                continue
            if not isinstance(item, str) or not item:
                raise self.fail(f"geosip.rpc.{key} must be a non-empty string, not {item!r}",
                                "rpc", key)
            if key == "http":
                try:
                    parse_http(item)
                except ValueError as exc:
                    raise self.fail(f"geosip.rpc.http: {exc}", "rpc", key) from None
            if key == "auth" and ":" not in item:
                raise self.fail('geosip.rpc.auth must be "user:password"', "rpc", key)
            fields[key] = item
        return RpcSettings(**fields)

    def read_gateways(self, value: Any) -> dict[str, dict[str, Any]]:
        """{ xmpp = { ... }, sms = { ... } }: each name a package geosip.gateways.<name>,
        its settings checked by the package's settings.check() (ValueError: refused)."""
        import importlib

        if not isinstance(value, dict) or any(not isinstance(k, str) for k in value):
            raise self.fail("geosip.gateways must be a table { name = { settings } }, "
                            f"not {_kind(value)}", "gateways")
        gateways: dict[str, dict[str, Any]] = {}
        for name, settings in sorted(value.items()):
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise self.fail(f"unknown gateway {name}", "gateways", name)
            try:
                importlib.import_module(f"geosip.gateways.{name}")
            except ModuleNotFoundError:
                raise self.fail(f"unknown gateway {name} (no package geosip.gateways.{name})",
                                "gateways", name) from None
            if not isinstance(settings, dict) or any(isinstance(k, int) for k in settings):
                raise self.fail(f"geosip.gateways.{name} must be a table of settings "
                                f"({{ name = value }}), not {_kind(settings)}", "gateways", name)
            try:
                check = importlib.import_module(f"geosip.gateways.{name}.settings").check
            except ModuleNotFoundError:
                check = None
            if check is not None:
                try:
                    settings = check(settings)
                except ValueError as exc:
                    raise self.fail(f"geosip.gateways.{name}: {exc}", "gateways", name) from None
            gateways[name] = settings
        return gateways

    def read_snmp(self, value: Any) -> SnmpSettings:
        """snmp = { listen, community, v3, trap_sink, trap_community, thresholds }: the
        SNMP agent geosip run starts (snmp/settings.py says what each means)."""
        try:
            return parse_snmp(value)
        except SettingError as exc:
            raise self.fail(f"geosip.snmp: {exc}", "snmp", *exc.where) from None

    def read_modules(self, value: Any) -> dict[str, dict[str, Any]]:
        """{ name = { param = value } }; a bare name in the list part ({ "tm", "sl" })
        is a module with no parameters."""
        if not isinstance(value, dict):
            raise self.fail(f"geosip.modules must be a table, not {_kind(value)}", "modules")
        # Lua tables keep no order: modules come in a fixed one, the list part first,
        # then by name (the registry orders them for loading).
        modules: dict[str, dict[str, Any]] = {}
        for key, params in sorted(value.items(), key=lambda kv: (isinstance(kv[0], str), kv[0])):
            if isinstance(key, int):    # { "tm", "sl" }
                if not isinstance(params, str):
                    raise self.fail(f"geosip.modules: {params!r} is not a module name",
                                    "modules")
                name, params = params, {}
            else:
                name = key
            if name in modules:
                raise self.fail(f"geosip.modules names {name} twice", "modules", name)
            if not isinstance(params, dict) or any(isinstance(k, int) for k in params):
                raise self.fail(f"geosip.modules.{name} must be a table of parameters "
                                f"({{ name = value }}), not {_kind(params)}", "modules", name)
            exports = self.module(name)
            known = {p.name: p for p in exports.params}
            checked: dict[str, Any] = {}
            for param, item in params.items():
                if param not in known:
                    listed = ", ".join(sorted(known)) or "none"
                    raise self.fail(f"unknown parameter {param} of module {name} "
                                    f"(its parameters: {listed})", "modules", name, param)
                checked[param] = self.param_value(name, param, item, known[param].default)
            modules[name] = checked
        return modules

    def module(self, name: str) -> ModuleExports:
        try:
            return self.lookup(name)
        except ValueError:
            if name in registry.CORE:
                raise self.fail(f"module {name} is part of geosip's core, always loaded: "
                                "leave it out of geosip.modules", "modules", name) from None
            raise self.fail(f"unknown module {name}", "modules", name) from None

    def param_value(self, module: str, param: str, value: Any, default: Any) -> Any:
        """A modparam value, checked against the type of the parameter's default:
        Kamailio's int parameters take integers (0/1 for booleans too), string ones
        strings; a list ({ "a", "b" }) stands for a modparam given several times. A
        parameter whose default is a mapping also takes a table keyed by name
        ({ ca = "sqlite:///..." }, sqlops' sqlcon), which its module checks."""
        where = ("modules", module, param)
        if isinstance(value, dict):
            if isinstance(default, Mapping) and value and all(isinstance(k, str) for k in value):
                return value
            items = self.sequence(value, f"modules.{module}.{param}")
            if default is not None and not isinstance(default, tuple | list | Mapping):
                raise self.fail(f"{module}.{param} takes one value, not a list", *where)
            for item in items:
                if isinstance(item, dict):
                    raise self.fail(f"{module}.{param}: a list of plain values only", *where)
            return items
        if default is None or isinstance(default, tuple | list | Mapping):
            return value
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            if _is_number(value) and value in (0, 1):
                return bool(value)
            raise self.fail(f"{module}.{param} must be a boolean (or 0/1), not {value!r}", *where)
        if isinstance(default, int):
            if _is_number(value) and float(value).is_integer():
                return int(value)
            raise self.fail(f"{module}.{param} must be an integer, not {value!r}", *where)
        if isinstance(default, float):
            if _is_number(value):
                return float(value)
            raise self.fail(f"{module}.{param} must be a number, not {value!r}", *where)
        if isinstance(default, str) and not isinstance(value, str):
            raise self.fail(f"{module}.{param} must be a string, not {value!r}", *where)
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__)


def _quoted(text: str) -> str:
    return "\0" + text  # _Lines.find: search this as a string literal's content


class _Lines:
    """Finds the line of a key of the `geosip` table in the source: from the table's
    start (`geosip =`), each name of the path is searched as an identifier (or a quoted
    key) after the previous one. Good enough for tables written out literally, which is
    how configuration is written; for a table built by code the line found may be the
    nearest mention, or the table's start. Comments are blanked first so a mention in a
    comment is not taken."""

    def __init__(self, source: str) -> None:
        self.text = _blank_comments(source)
        start = re.search(r"(?<![\w.])geosip\s*=(?!=)", self.text)
        self.start = start.start() if start else None

    def find(self, path: Iterable[str]) -> int | None:
        if self.start is None:
            return None
        pos = self.start
        for name in path:
            if name.startswith("\0"):
                pattern = r"""(["'])""" + re.escape(name[1:]) + r"\1"
            else:
                # an identifier (a key, or a name in a list of strings), not a field
                # of something else except geosip.<key>
                pattern = rf"(?:(?<![\w.])|(?<=geosip\.)){re.escape(name)}(?!\w)"
            found = re.compile(pattern).search(self.text, pos)
            if found is None:
                break
            pos = found.start()
        return self.text.count("\n", 0, pos) + 1


def _blank_comments(source: str) -> str:
    """The source with every comment's characters replaced by spaces (newlines kept),
    strings left as they are. A small scanner of Lua's lexical rules: -- to the end of
    the line, --[[ ]] / --[==[ ]==] long comments, '...' and "..." with escapes, and
    [[ ]] / [==[ ]==] long strings."""
    out = list(source)
    i, n = 0, len(source)
    long_open = re.compile(r"\[(=*)\[")
    while i < n:
        c = source[i]
        if c == "-" and source.startswith("--", i):
            opened = long_open.match(source, i + 2)
            if opened:
                close = "]" + opened.group(1) + "]"
                end = source.find(close, opened.end())
                end = n if end < 0 else end + len(close)
            else:
                end = source.find("\n", i)
                end = n if end < 0 else end
            for j in range(i, end):
                if out[j] != "\n":
                    out[j] = " "
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and source[j] != c and source[j] != "\n":
                j += 2 if source[j] == "\\" else 1
            i = j + 1
        elif c == "[" and (opened := long_open.match(source, i)):
            close = "]" + opened.group(1) + "]"
            end = source.find(close, opened.end())
            i = n if end < 0 else end + len(close)
        else:
            i += 1
    return "".join(out)


# ---- the command line over the script ------------------------------------------------

# RunOptions field -> how it lands in ScriptConfig
_CLI_FIELDS = ("listens", "aliases", "log_level", "workers", "fr_timer", "fr_inv_timer",
               "tls_certificate", "tls_private_key", "tls_ca_file", "tls_verify")


def cli_given(options: "RunOptions") -> set[str]:
    """RunOptions fields that differ from their defaults (RunOptions' own, and main.py's
    DEFAULT_LISTEN for listens): taken as given on the command line when the caller
    cannot say. A value given explicitly but equal to the default is then not seen as
    given (the script's value wins): main.py knows better, see merge()."""
    from geosip.cli.main import DEFAULT_LISTEN as CLI_DEFAULT_LISTEN  # argparse only

    defaults = {f.name: f.default for f in dataclasses.fields(options)
                if f.default is not dataclasses.MISSING}
    given = set()
    for name in _CLI_FIELDS:
        value = getattr(options, name)
        if value is None:
            continue
        if name == "listens":
            if tuple(str(listen) for listen in value) != CLI_DEFAULT_LISTEN:
                given.add(name)
        elif name == "aliases":
            if tuple(value):
                given.add(name)
        elif value != defaults.get(name):
            given.add(name)
    return given


def merge(config: ScriptConfig, options: "RunOptions",
          given: Collection[str] | None = None) -> ScriptConfig:
    """The effective configuration: `config` (the script's), with every setting the
    command line gave replacing the script's (listen and alias as a whole, as Kamailio's
    -l replaces the config's listen=).

    `given` names the RunOptions fields set explicitly on the command line (listens,
    aliases, log_level, fr_timer, fr_inv_timer, tls_certificate, tls_private_key,
    tls_ca_file, tls_verify); main.py can tell exactly, e.g. by giving those options
    argparse defaults of None. Without it, cli_given() guesses from the defaults.
    A field of `options` that is None counts as not given either way.

    RunOptions' other fields (data_dir, router, accept_aliases) have no place in the
    script and stay with the caller; the script's db_url, modules and tm.wt_timer have
    no command-line option yet."""
    given = set(cli_given(options) if given is None else given)
    given = {name for name in given if getattr(options, name, None) is not None}
    fields: dict[str, Any] = {}
    if "listens" in given:
        fields["listen"] = tuple(str(listen) for listen in options.listens)
    if "aliases" in given:
        fields["alias"] = tuple(a.lower() for a in options.aliases)
    if "log_level" in given:
        fields["log_level"] = options.log_level.lower()
    if "workers" in given:
        fields["workers"] = options.workers
    timers = {name: getattr(options, name) for name in ("fr_timer", "fr_inv_timer")
              if name in given}
    if timers:
        fields["tm"] = dataclasses.replace(config.tm, **timers)
    tls = {key: getattr(options, name) for key, name in (
        ("certificate", "tls_certificate"), ("private_key", "tls_private_key"),
        ("ca_file", "tls_ca_file"), ("verify", "tls_verify")) if name in given}
    if tls:
        fields["tls"] = dataclasses.replace(config.tls, **tls)
    return dataclasses.replace(config, **fields)


__all__ = ["ConfigError", "RpcSettings", "ScriptConfig", "TlsSettings", "cli_given", "default_script",
           "merge", "read_config"]
