"""Kamailio's siputils module for geosip (see README.md)."""
