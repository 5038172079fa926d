"""nathelper: NAT traversal helpers (Kamailio's nathelper module)."""
