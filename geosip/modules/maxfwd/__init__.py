"""Kamailio's maxfwd module for geosip (see README.md)."""
