"""auth: Kamailio's digest authentication core for scripts (KSR.auth). See README.md."""
