"""Alembic migration scripts for every Auterity table (SQLite and PostgreSQL)."""
