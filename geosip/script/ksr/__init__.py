"""KSR functions of Kamailio's core: KSR.<fn> (core.py), KSR.pv, KSR.hdr, KSR.x, KSR.kx."""
