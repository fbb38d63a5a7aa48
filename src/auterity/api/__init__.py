"""The app factory: one FastAPI app serving one service or all of them."""

from auterity.api.app import create_app

__all__ = ["create_app"]
