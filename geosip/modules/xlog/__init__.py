"""Kamailio's xlog module for geosip (see README.md)."""
