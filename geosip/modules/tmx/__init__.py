"""tmx: Kamailio's tm extensions for scripts (KSR.tmx). See README.md."""
