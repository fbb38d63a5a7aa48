"""RelayCore HTTP routes: the OpenAI-compatible `/v1` surface, the platform's `/api/llm`, and
the gateway's administration (`/api/relay/budgets`, `/api/relay/usage`)."""

from __future__ import annotations

from fastapi import APIRouter

from auterity.relaycore.budgets.api import router as budgets
from auterity.relaycore.usage.api import router as usage

openai_compatible = APIRouter(prefix="/v1", tags=["openai-compatible"])
llm = APIRouter(prefix="/api/llm", tags=["llm"])

routers = (openai_compatible, llm, budgets, usage)
