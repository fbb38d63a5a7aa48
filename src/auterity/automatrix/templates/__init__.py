"""Workflow templates: parameterised specs with immutable versions, rollback, diffs and tests."""
