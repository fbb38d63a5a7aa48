"""The `auterity` command line."""
