"""Kamailio's corex module for geosip (see README.md)."""
