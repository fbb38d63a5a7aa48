"""The platform's own LLM API (`/api/llm`): completions and server-side conversations."""
