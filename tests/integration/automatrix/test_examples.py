"""Every example in examples/ validates, the runnable ones run, and every template's own
test cases pass on the engine (a new template in examples/templates/ is picked up here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auterity.automatrix.actions.registry import default_registry
from auterity.automatrix.templates.checks import check_template
from auterity.automatrix.templates.testing import run_tests
from auterity.automatrix.validation import validate
from auterity.core.settings import Settings

ROOT = Path(__file__).parents[3] / "examples"
EXAMPLES = sorted(ROOT.glob("*.yaml"))
TEMPLATES = sorted((ROOT / "templates").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_validate(path: Path) -> None:
    report = validate(yaml.safe_load(path.read_text()), default_registry())
    assert report.valid, report.as_dict()


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.name for p in TEMPLATES])
async def test_template_examples_pass_their_own_tests(path: Path, tmp_path: Path) -> None:
    registry = default_registry()
    raw = yaml.safe_load(path.read_text())  # noqa: ASYNC240 - a small file, read once
    document, report = check_template(raw, registry)
    assert document is not None and not report.errors, report.as_dict()
    assert document.tests, f"{path.name} has no test cases"
    results = await run_tests(document, registry, Settings(data_dir=tmp_path))
    failed = {r.name: r.failures for r in results if not r.passed}
    assert not failed, failed
