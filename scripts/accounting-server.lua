-- The accounting server of the seed's "Extensibility: accounting server" example
-- (Kamailio, ClueCon 2010), in KEMI Lua: it takes the ACCOUNTING requests that
-- scripts/accounting-proxy.lua sends on every answered call and stores each in the
-- `accounting` table with one SQL statement, answering 200 Stored.
--
-- The seed's Kamailio configuration:
--   route {
--     if(method=="ACCOUNTING" && $rU=="store") {
--       sql_query("ca", "insert into accounting (timeval,callid,ftag,ttag,src,dst)
--         values ('${rb{s.select,0,,}}', '${rb{s.select,1,,}}', '${rb{s.select,2,,}}',
--                 '${rb{s.select,3,,}}', '${rb{s.select,4,,}}', '${rb{s.select,5,,}}')",
--         "ra");
--       send_reply("200", "Stored");
--     }
--   }
-- Here each field is quoted with sqlops' {sql.val.str} transformation (the value in
-- quotes, ' doubled) instead of '...': a Call-ID or tag cannot end the string early.
--
-- The table, created once by the operator (SQLite shown; PostgreSQL takes the same
-- with SERIAL for the id):
--   CREATE TABLE accounting (id INTEGER PRIMARY KEY, timeval INTEGER NOT NULL,
--     callid VARCHAR(255) NOT NULL, ftag VARCHAR(128) NOT NULL,
--     ttag VARCHAR(128) NOT NULL, src VARCHAR(255) NOT NULL, dst VARCHAR(255) NOT NULL);
--
-- Run: geosip run -c scripts/accounting-server.lua -l udp:127.0.0.1:5070

geosip = {
  listen = { "udp:127.0.0.1:5070" },
  modules = {
    "sl", "maxfwd",
    -- the connection "ca" of the seed (scripts/README.md: database URLs)
    sqlops = { sqlcon = "ca=>sqlite:////var/lib/geosip/accounting.sqlite" },
  },
}

local COLUMNS = "timeval,callid,ftag,ttag,src,dst"

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    KSR.x.exit()
  end
  if not (KSR.is_method("ACCOUNTING") and KSR.pv.get("$rU") == "store") then
    KSR.sl.sl_send_reply(403, "Accounting Only")
    KSR.x.exit()
  end
  local values = {}
  for i = 0, 5 do
    values[#values + 1] = KSR.pv.get("$(rb{s.select," .. i .. ",,}{sql.val.str})")
  end
  local q = "insert into accounting (" .. COLUMNS .. ") values (" ..
            table.concat(values, ",") .. ")"
  if KSR.sqlops.sql_query("ca", q, "ra") < 0 then
    KSR.sl.sl_send_reply(500, "Not Stored")
    KSR.x.exit()
  end
  KSR.sl.sl_send_reply(200, "Stored")
end
