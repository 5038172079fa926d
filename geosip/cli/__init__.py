"""Command-line entry points: `geosip` (main.py) and `geosipctl` (ctl.py)."""
