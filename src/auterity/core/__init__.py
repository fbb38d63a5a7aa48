"""Core: settings, database, errors, ids, time, logging, metrics, tracing, health and cache."""
