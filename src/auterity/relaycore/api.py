"""RelayCore HTTP routes: the OpenAI-compatible `/v1` surface and the platform's `/api/llm`."""

from __future__ import annotations

from fastapi import APIRouter

openai_compatible = APIRouter(prefix="/v1", tags=["openai-compatible"])
llm = APIRouter(prefix="/api/llm", tags=["llm"])

routers = (openai_compatible, llm)
