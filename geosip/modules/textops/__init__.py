"""Kamailio's textops module for geosip (see README.md)."""
