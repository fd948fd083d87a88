"""docs/studies.md's readings are what docs/readings.py computes from the stored reports (issue 11)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readings_match_the_stored_results():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "readings.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_reading_states_its_tests():
    sys.path.insert(0, str(ROOT / "docs"))
    import readings

    for name, text in readings.readings().items():
        assert text.count("Welch p") >= 3, name
        assert "no difference" not in text and "closes most" not in text, name


def test_every_figure_the_docs_link_is_stored():
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "studies").glob("*/report.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text()):
            if "://" not in target and not (page.parent / target).is_file():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing
