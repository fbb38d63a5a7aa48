"""Identity HTTP routes (`/api/auth`, `/api/api-keys`, ...)."""

from __future__ import annotations

from fastapi import APIRouter

auth = APIRouter(prefix="/api/auth", tags=["auth"])

routers = (auth,)
