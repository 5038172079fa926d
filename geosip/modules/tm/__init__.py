"""tm: Kamailio's transaction module for scripts (KSR.tm). See README.md."""
