"""domain: Kamailio's domain module (KSR.domain): which domains are local. See README.md."""
