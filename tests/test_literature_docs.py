"""docs/literature.md is what docs/make_literature.py writes from the audit (it cannot drift)."""
import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_literature_reading_is_generated_from_the_audit():
    spec = importlib.util.spec_from_file_location("make_literature", DOCS / "make_literature.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DOCS / "literature.md").read_text(encoding="utf-8") == module.render(), \
        "docs/literature.md is stale: run .venv/bin/python docs/make_literature.py"
