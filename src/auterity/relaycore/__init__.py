"""RelayCore: the OpenAI-compatible AI gateway — providers, routing, budgets, usage, cache."""
