"""RelayCore HTTP routes: the OpenAI- and Anthropic-compatible `/v1` surfaces, `/api/relay`
administration (providers, policies, catalog, budgets, usage), and the platform's `/api/llm`."""

from __future__ import annotations

from auterity.relaycore import api_admin, api_messages, api_v1
from auterity.relaycore.budgets.api import router as budgets
from auterity.relaycore.llm.api import router as llm
from auterity.relaycore.usage.api import router as usage

routers = (api_v1.router, api_messages.router, api_admin.router, budgets, usage, llm)
# The gateway's hot path: an app matches these before any other route (see api/services.py).
surface_routers = (api_v1.router, api_messages.router)
