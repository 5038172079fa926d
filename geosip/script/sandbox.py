"""The Lua sandbox: one lupa Lua 5.4 runtime that runs untrusted routing scripts.

What a script gets (DESIGN.md, Routing scripts; STACK-NOTES.md §2): the base library
without load/dofile/loadfile/require/collectgarbage, read-only `string` (no dump),
`table`, `math`, `utf8`, a reduced `os` (time, clock, date) and `coroutine`, plus the
API table (KSR) the engine passes in. No io, no debug, no package, no Python objects
beyond that table; text chunks only (no bytecode).

Limits: every coroutine is hooked every HOOK_EVERY VM instructions; the hook stops a
route that exceeds its instruction budget or CPU deadline, or that grows Lua's heap
past the soft memory limit. The hard `max_memory` of lupa sits 8x higher as a
backstop only: hitting it while lupa converts a Python value deadlocks lupa 2.8.
`pcall`, `xpcall` and `coroutine.resume` are wrapped so a script cannot swallow an
abort or KSR.x.exit().

Routes run as coroutines created here (`run`, `continue`), so a KSR call that must
wait yields to the Python driver instead of blocking inside Lua (engine.py). A route
waiting on such a call keeps its instruction budget in Lua (other routes run meanwhile)
and gets a fresh CPU deadline when it continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lupa.lua54 as lua54

# Raised inside Lua by KSR.x.exit(): ends the route, like Kamailio's exit.
EXIT = "geosip:exit"
CALL = "geosip:call"  # first value a route yields for a blocking KSR call
OK, FAIL = "geosip:ok", "geosip:fail"  # how the driver resumes it: result or error
TIMEOUT = "sandbox: instruction/time limit exceeded"
MEMLIMIT = "sandbox: memory limit exceeded"

_BOOTSTRAP = r'''
local EXIT, TIMEOUT, MEMLIMIT, HOOK_EVERY, CALL, FAIL = ...
local sethook, clock, gc = debug.sethook, os.clock, collectgarbage
local pcall_, xpcall_, error_, load_, select_ = pcall, xpcall, error, load, select
local co_create, co_resume, co_status, co_yield, co_running = coroutine.create,
  coroutine.resume, coroutine.status, coroutine.yield, coroutine.running
local pack, unpack = table.pack, table.unpack
local budget, deadline, soft_kib, abort = math.huge, math.huge, math.huge, nil
local run_seconds = math.huge
-- the instruction budget of each route waiting on a blocking KSR call (weak: a route
-- the driver abandons is collected with its entry)
local carried = setmetatable({}, {__mode = "k"})

local function hook()
  if abort then error_(abort, 0) end
  budget = budget - 1
  if budget < 0 or clock() > deadline then abort = TIMEOUT; error_(abort, 0) end
  if gc("count") > soft_kib then
    gc("collect")
    if gc("count") > soft_kib then abort = MEMLIMIT; error_(abort, 0) end
  end
end
sethook(hook, "", HOOK_EVERY)

-- an abort or exit must go through every pcall the script wraps around it
local function rethrow(ok, ...)
  if abort then error_(abort, 0) end
  if not ok and (...) == EXIT then error_(EXIT, 0) end
  return ok, ...
end
local function create(f)
  local co = co_create(f)
  sethook(co, hook, "", HOOK_EVERY)   -- hooks are per coroutine
  return co
end
local function resume_user(co, ...) return rethrow(co_resume(co, ...)) end
local function wrap(f)
  local co = create(f)
  return function(...)
    local r = pack(resume_user(co, ...))
    if not r[1] then error_(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end
local function readonly(t)
  return setmetatable({}, {__index = t, __metatable = false,
    __newindex = function() error_("read-only table", 2) end})
end
local function copy(t, skip)
  local c = {}
  for k, v in pairs(t) do if not (skip and skip[k]) then c[k] = v end end
  return c
end
local getmetatable_ = getmetatable
local base = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = function(...) return rethrow(pcall_(...)) end,
  xpcall = function(...) return rethrow(xpcall_(...)) end,
  select = select, tonumber = tonumber, tostring = tostring, type = type,
  rawequal = rawequal, rawget = rawget, rawset = rawset, rawlen = rawlen,
  setmetatable = setmetatable,
  getmetatable = function(o) if type(o) == "userdata" then return nil end
                             return getmetatable_(o) end,
  string = readonly(copy(string, {dump = true})), table = readonly(copy(table)),
  math = readonly(copy(math)), utf8 = readonly(copy(utf8)),
  os = readonly({time = os.time, clock = os.clock, date = os.date}),
  coroutine = readonly({create = create, resume = resume_user, wrap = wrap,
                        yield = co_yield, status = co_status, running = coroutine.running,
                        isyieldable = coroutine.isyieldable}),
}
getmetatable("").__metatable = false

local sandbox = {}

function sandbox.load(code, chunkname, api)
  local env = copy(base)
  env._G = env
  for k, v in pairs(api) do env[k] = v end
  -- "@": Lua shortens a long path from the left, so the file name stays in messages
  local fn, err = load_(code, "@" .. chunkname, "t", env)   -- "t": no bytecode
  if not fn then error_(err, 0) end
  return env, fn
end

function sandbox.limits(max_instr, max_seconds, kib)
  budget = max_instr and (max_instr // HOOK_EVERY) or math.huge
  run_seconds = max_seconds or math.huge
  deadline = clock() + run_seconds
  soft_kib = kib or math.huge
  abort = nil
end

-- resume: returns "dead"|"suspended", ok, values...  (abort/exit surface as errors)
local function resume(co, ...)
  local r = pack(co_resume(co, ...))
  return co_status(co), unpack(r, 1, r.n)
end

-- a route run: the limits set, f(...) started as a hooked coroutine; returns the
-- coroutine and what resume returned. One call from Python instead of two: each
-- crossing costs about 1.5 us, and a route runs for every request.
function sandbox.run(max_instr, max_seconds, kib, f, ...)
  sandbox.limits(max_instr, max_seconds, kib)
  local co = create(f)
  return co, resume(co, ...)
end

-- continue a route after its blocking KSR call with the call's outcome: the route's
-- own budget back, a fresh CPU deadline (the wait outside Lua does not count)
function sandbox.resume_call(co, ...)
  budget, carried[co] = carried[co] or budget, nil
  deadline = clock() + run_seconds
  abort = nil
  return resume(co, ...)
end

-- a KSR call that must wait: hand it to the Python driver and wait for its result;
-- when it failed, raise the error here, so it names the script's line (level 2: the
-- script, as the KSR wrapper tail-calls this)
function sandbox.yield_call(fn, ...)
  carried[co_running()] = budget
  local tag, value = co_yield(CALL, fn, ...)
  if tag == FAIL then error_(value, 2) end
  return value
end

function sandbox.exit() error_(EXIT, 0) end

return sandbox
'''

HOOK_EVERY = 1000


@dataclass(frozen=True, slots=True)
class Limits:
    """Per route run: VM instructions, CPU seconds, Lua heap (soft) in bytes."""

    instructions: int = 50_000_000
    seconds: float = 5.0
    memory: int = 64 * 1024 * 1024


def _attribute_filter(obj: object, name: object, is_setting: bool) -> object:
    # No Python attribute is reachable from Lua: KSR is made of plain functions.
    raise AttributeError("access denied")


class Sandbox:
    """A fresh runtime. `load` compiles a script into its own environment."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self.lua = lua54.LuaRuntime(register_eval=False, register_builtins=False,
                                    unpack_returned_tuples=True,
                                    attribute_filter=_attribute_filter,
                                    max_memory=8 * limits.memory)
        self.box = self.lua.execute(_BOOTSTRAP, EXIT, TIMEOUT, MEMLIMIT, HOOK_EVERY, CALL,
                                    FAIL)
        g = self.lua.globals()
        for name in ("os", "io", "debug", "package", "require", "dofile", "loadfile",
                     "load", "collectgarbage", "python", "print"):
            g[name] = None

    def table(self, items: dict[str, Any] | None = None) -> Any:
        """A new Lua table (a dict's values converted as lupa does)."""
        return self.lua.table_from(items or {})

    def load(self, code: str, chunkname: str, api: Any) -> Any:
        """Compile and run the script's main chunk; returns its environment table.
        Raises lupa.LuaError with the script's file and line on a syntax or runtime
        error (and for the limits)."""
        env, main = self.box.load(code, chunkname, api)
        limits = self.limits
        _co, status, ok, *values = self.box.run(limits.instructions, limits.seconds,
                                                limits.memory // 1024, main)
        if not ok:
            raise lua54.LuaError(values[0] if values else "error")
        if status != "dead":
            raise lua54.LuaError(f"{chunkname}: the main chunk yielded outside a route")
        return env

    def eval(self, code: str) -> Any:
        """Trusted Lua of geosip itself (KSR wrappers), run with the full library."""
        return self.lua.execute(code)
