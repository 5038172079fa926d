"""Lua routing scripts, installed as `geosip.scripts` (setup.py) so that
importlib.resources.files("geosip.scripts") finds them in a wheel and in an editable
install alike. No Python lives here."""
