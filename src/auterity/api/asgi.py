"""ASGI entry point for servers started with an import string (several workers, reload)."""

from __future__ import annotations

from fastapi import FastAPI

from auterity.api.app import create_app


def build() -> FastAPI:
    """uvicorn factory: the services to serve come from `AUTERITY_SERVICES`."""
    return create_app()
