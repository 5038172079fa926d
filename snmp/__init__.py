"""geosip's SNMP agent (issue 8): its own asyncio process (pysnmp) that answers
GEOSIP-MIB and part of RFC 4780's SIP-COMMON-MIB from the core's JSON-RPC statistics,
and sends traps. README.md beside this file; `python -m geosip.snmp --help`."""
