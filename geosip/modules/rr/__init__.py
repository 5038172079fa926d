"""Kamailio's rr module for geosip (see README.md)."""
