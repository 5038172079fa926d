"""sqlops: raw SQL from the routing script over named connections (KSR.sqlops). See README.md."""
