"""usrloc: Kamailio's user location store (memory, db_mode 0). See README.md."""
