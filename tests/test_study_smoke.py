"""studies/smoke.yaml, the study CI and newcomers run: it finishes, and its rows feed the report."""
from __future__ import annotations

from pathlib import Path

import pytest

from prunebench.study import audit_study, load_study, run_study, study_meta, study_rows

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.yaml"


def test_smoke_study_is_valid_and_small():
    study = load_study(SMOKE)
    assert len(study.arms) == 2 and len(study.ratios) == 2 and len(study.seeds) == 2
    assert study.model.name == "cnn1d" and study.data.name == "mnist1d"


@pytest.mark.slow
def test_smoke_study_runs_and_reports(tmp_path, tmp_cache):
    out = tmp_path / "smoke"
    assert run_study(SMOKE, out, workers=2, quiet=True) == 0
    rows = study_rows(out)
    assert len(rows) == 8 and all(r["status"] == "done" for r in rows)
    assert all(r["test_acc"] > 0.5 for r in rows)  # 10 classes: far above chance
    audit = audit_study(out)
    assert audit["summary"]["groups"] == 4 and "SX-A" in audit["summary"]["holds_every"]

    from prunebench.report import write_report

    report = write_report(out, rows, study_meta(out), audit)
    assert report.is_file() and "scratch-e" in report.read_text()
