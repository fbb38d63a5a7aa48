"""Any OpenAI-compatible server (vLLM, Ollama, Together, LM Studio, ...) at its own base URL.

Same wire format as OpenAI; the differences are that a key is optional (a local Ollama has
none) and that usage may be missing, which the gateway then counts itself.
"""

from __future__ import annotations

from auterity.relaycore.providers.openai import OpenAIProvider


class CompatibleProvider(OpenAIProvider):
    requires_key = False
