"""Workflow actions: the `Action` contract, the entry-point registry and the built-ins."""

from auterity.automatrix.actions.base import Action, ActionContext, ActionError, Suspend
from auterity.automatrix.actions.registry import ActionRegistry, default_registry

__all__ = [
    "Action",
    "ActionContext",
    "ActionError",
    "ActionRegistry",
    "Suspend",
    "default_registry",
]
