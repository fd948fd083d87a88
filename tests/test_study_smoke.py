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


@pytest.mark.slow
def test_report_tables_equal_what_results_csv_gives(tmp_path, tmp_cache, capsys):
    """Every accuracy cell of the report (tables.csv, the table model's own rendering) is the mean /
    sample std / n of the `prunebench results --csv` rows of that arm and ratio."""
    import csv
    import io
    import statistics

    import prunebench.cli as cli

    out = tmp_path / "smoke"
    assert run_study(SMOKE, out, workers=2, quiet=True) == 0
    assert cli.main(["results", str(out), "--csv"]) == 0
    runs = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert cli.main(["report", str(out)]) == 0
    cells = [c for c in csv.DictReader((out / "report" / "tables.csv").open()) if c["table"] == "accuracy" and c["row_kind"] == "ours"]
    assert cells
    for cell in cells:
        arm = cell["row"].removesuffix(" (reference)")
        ratio = float(cell["column"].removeprefix("ratio "))
        accs = [100 * float(r["test_acc"]) for r in runs if r["arm"] == arm and float(r["ratio"]) == ratio and r["status"] == "done"]
        assert int(cell["n"]) == len(accs) == 2
        assert float(cell["mean"]) == pytest.approx(statistics.mean(accs), abs=1e-9)
        assert float(cell["std"]) == pytest.approx(statistics.stdev(accs), abs=1e-9)
