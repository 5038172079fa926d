"""The control interface (issue 8): JSON-RPC 2.0 with Kamailio's command names, served
over a Unix socket and HTTP (with Prometheus text at /metrics). README.md says how.

Nothing here imports gevent at import time except server.py, so geosipctl (client.py)
and the unit tests use the rest without monkey-patching.
"""
