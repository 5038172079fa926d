"""sl: Kamailio's stateless replies for scripts (KSR.sl). See README.md."""
