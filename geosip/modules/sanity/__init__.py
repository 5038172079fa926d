"""Kamailio's sanity module for geosip (see README.md)."""
