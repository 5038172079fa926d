"""registrar: Kamailio's registrar (KSR.registrar) over usrloc. See README.md."""
