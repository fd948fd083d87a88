"""The mutation check (bench/mutation_check.py): every named break of the code is caught by the suite."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_every_mutation_is_caught():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "mutation_check.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SURVIVED" not in proc.stdout and "STALE" not in proc.stdout
