"""docs/literature.md is what docs/make_literature.py writes from the audit (it cannot drift); so is
docs/literature-shrinkbench.md, checked when PRUNEBENCH_SHRINKBENCH_GRID names the grid it was
written from (ShrinkBench's file is not shipped)."""
import importlib.util
import os
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _script():
    spec = importlib.util.spec_from_file_location("make_literature", DOCS / "make_literature.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_literature_reading_is_generated_from_the_audit():
    assert (DOCS / "literature.md").read_text(encoding="utf-8") == _script().render(), \
        "docs/literature.md is stale: run .venv/bin/python docs/make_literature.py"


def test_shrinkbench_reading_is_generated_from_the_grid():
    text = (DOCS / "literature-shrinkbench.md").read_text(encoding="utf-8")
    assert text.startswith("# ShrinkBench's collection under the literature audit")
    grid = os.environ.get("PRUNEBENCH_SHRINKBENCH_GRID")
    if not grid:
        pytest.skip("PRUNEBENCH_SHRINKBENCH_GRID not set: ShrinkBench's grid is not shipped")
    provenance = text.split("Input: ", 1)[1].split(".\n", 1)[0]
    assert text == _script().render_shrinkbench(grid, provenance)
