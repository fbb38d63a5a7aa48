"""Imports every module that defines tables, so Alembic and tests see the whole schema."""

from __future__ import annotations

import importlib

MODEL_MODULES: tuple[str, ...] = (
    "auterity.core.models",
    "auterity.identity.models",
    "auterity.automatrix.models",
    "auterity.automatrix.templates.models",
    "auterity.automatrix.triggers.models",
    "auterity.automatrix.keyvalue",
    "auterity.integrations.vectors.models",
    "auterity.secrets.models",
    "auterity.events.models",
    "auterity.identity.sso.models",
    "auterity.identity.policies.models",
    "auterity.identity.saml.models",
    "auterity.relaycore.models",
    "auterity.relaycore.budgets.models",
    "auterity.relaycore.usage.models",
    "auterity.relaycore.llm.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
