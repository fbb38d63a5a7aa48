"""The one action registry: actions come from the `auterity.actions` entry-point group.

The built-ins register themselves the same way (see pyproject.toml), so a third-party
package adds an action by declaring an entry point, without touching the engine.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib.metadata import entry_points

from auterity.automatrix.actions.base import Action
from auterity.core.logging import get_logger

GROUP = "auterity.actions"
log = get_logger(__name__)


class ActionRegistry:
    def __init__(self, actions: dict[str, type[Action]]) -> None:  # type: ignore[type-arg]
        self._actions = dict(actions)

    @classmethod
    def from_entry_points(cls) -> ActionRegistry:
        found: dict[str, type[Action]] = {}  # type: ignore[type-arg]
        for entry in entry_points(group=GROUP):
            try:
                action = entry.load()
            except Exception as exc:  # a broken plugin must not take the engine down
                log.error("action_load_failed", entry_point=entry.name, error=repr(exc))
                continue
            found[getattr(action, "name", entry.name)] = action
        return cls(found)

    def get(self, name: str) -> type[Action] | None:  # type: ignore[type-arg]
        return self._actions.get(name)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name, self._actions, n=1, cutoff=0.6)
        return close[0] if close else None

    def with_overrides(self, actions: dict[str, type[Action]]) -> ActionRegistry:  # type: ignore[type-arg]
        return ActionRegistry({**self._actions, **actions})


@lru_cache(maxsize=1)
def default_registry() -> ActionRegistry:
    return ActionRegistry.from_entry_points()
