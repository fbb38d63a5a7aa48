"""RelayCore HTTP routes: the OpenAI- and Anthropic-compatible `/v1` surfaces, `/api/relay`
administration, and the platform's own `/api/llm`."""

from __future__ import annotations

from fastapi import APIRouter

from auterity.relaycore import api_admin, api_messages, api_v1

llm = APIRouter(prefix="/api/llm", tags=["llm"])

routers = (api_v1.router, api_messages.router, api_admin.router, llm)
# The gateway's hot path: an app matches these before any other route (see api/services.py).
surface_routers = (api_v1.router, api_messages.router)
