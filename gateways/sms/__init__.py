"""The SMS gateway (issue 7): SIP MESSAGE <-> SMS over SMPP 3.4 or Kannel's HTTP
interface, its own asyncio process (DESIGN.md, Processes). See README.md."""
