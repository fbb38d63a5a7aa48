"""The step graph: dependencies (explicit `needs` plus inferred `steps.<id>` references), cycles."""

from __future__ import annotations

from dataclasses import dataclass

from auterity.automatrix.expressions import references
from auterity.automatrix.spec import StepSpec, WorkflowSpec


def referenced_steps(step: StepSpec) -> set[str]:
    """Steps whose results this step's parameters, condition or for_each read."""
    refs = references(step.templated) | references(step.if_ or "") | references(step.for_each or "")
    if step.if_ and "{{" not in step.if_:
        refs |= references("{{ " + step.if_ + " }}")
    return {ref.name for ref in refs if ref.root == "steps" and ref.name}


@dataclass(frozen=True)
class StepGraph:
    dependencies: dict[str, frozenset[str]]  # step -> steps it waits for
    fallbacks: dict[str, str]  # step -> its on_error fallback step

    @classmethod
    def build(cls, spec: WorkflowSpec) -> StepGraph:
        ids = {step.id for step in spec.steps}
        dependencies: dict[str, frozenset[str]] = {}
        fallbacks: dict[str, str] = {}
        for step in spec.steps:
            wanted = (set(step.needs) | referenced_steps(step)) & ids
            wanted.discard(step.id)
            dependencies[step.id] = frozenset(wanted)
            if step.on_error not in ("fail", "continue") and step.on_error in ids:
                fallbacks[step.id] = step.on_error
        return cls(dependencies, fallbacks)

    @property
    def fallback_steps(self) -> frozenset[str]:
        return frozenset(self.fallbacks.values())

    def dependents(self, step_id: str) -> set[str]:
        return {other for other, deps in self.dependencies.items() if step_id in deps}

    def find_cycle(self) -> list[str] | None:
        """One cycle as a path that returns to its start (`a -> b -> a`), or None."""
        white, grey, black = 0, 1, 2
        colour = dict.fromkeys(self.dependencies, white)
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            colour[node] = grey
            stack.append(node)
            for nxt in sorted(self.dependencies[node]):
                if colour.get(nxt) == grey:
                    return [*stack[stack.index(nxt) :], nxt]
                if colour.get(nxt) == white:
                    found = visit(nxt)
                    if found:
                        return found
            stack.pop()
            colour[node] = black
            return None

        for node in sorted(self.dependencies):
            if colour[node] == white:
                cycle = visit(node)
                if cycle:
                    # Dependencies point backwards (b needs a); print in execution order.
                    return list(reversed(cycle))
        return None
