"""AutoMatrix HTTP routes (`/api/workflows`, `/api/runs`); the engine issue fills them."""

from __future__ import annotations

from fastapi import APIRouter

workflows = APIRouter(prefix="/api/workflows", tags=["workflows"])
runs = APIRouter(prefix="/api/runs", tags=["runs"])

routers = (workflows, runs)
