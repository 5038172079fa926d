"""htable: named in-memory hash tables for the script (KSR.htable, $sht). See README.md."""
