"""auth_db: digest authentication against the subscriber table (KSR.auth_db). See README.md."""
