"""geosip: a SIP proxy, registrar and IM server in Python, routed by Lua (Kamailio KEMI)."""

__version__ = "0.1.0"
