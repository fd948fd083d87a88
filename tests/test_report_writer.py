"""write_report end to end on synthetic rows: files, consistency with results.csv, failures, fairness."""
from __future__ import annotations

import math
import re
from collections import defaultdict

import pytest

from prunebench.report import aggregate, accuracy_table, read_results_csv, write_report
from prunebench.report.aggregate import ReportError
from prunebench.report.fairness_section import audit_lines, recommendations
from prunebench.report.plots import lr_decay_epochs

from test_report import run

LRS = {"l1-lr0.01": "0:0.01,3:0.001", "l1-lr0.001": "0:0.001,4:0.0001", "scratch": "0:0.1,3:0.01"}


def history(acc, lr_text, epochs=6, jsv=True):
    stages = [(int(k), float(v)) for k, v in (p.split(":") for p in lr_text.split(","))]
    hist = []
    for e in range(epochs):
        lr = [v for k, v in stages if k <= e][-1]
        a = acc - 0.05 * (epochs - 1 - e) / epochs
        hist.append({"epoch": e, "lr": lr, "train_loss": 1.0 / (e + 1), "train_acc": a + 0.02, "val_acc": a,
                     "test_acc": a, "jsv_mean": (0.2 + 0.1 * e) if jsv else None, "time_s": 0.5})
    return hist


def full_rows():
    accs = {"scratch": [0.90, 0.91, 0.92], "l1-lr0.01": [0.93, 0.94, 0.95], "l1-lr0.001": [0.91, 0.915, 0.92]}
    rows = []
    for ratio, drop in ((0.3, 0.0), (0.7, 0.05)):
        for arm, vals in accs.items():
            for seed, a in enumerate(vals):
                rows.append(run(arm, ratio, seed, a - drop, ta_train=a + 0.03, ta_test=a - 0.01,
                                jsv_mean_start=0.2, jsv_mean_end=0.7, params=1000, macs=50000,
                                dense_params=2000, dense_macs=100000, sparsity=0.5, speedup=2.0, epochs=6,
                                lr_schedule=LRS[arm], regime="scratch-e" if arm == "scratch" else "retrain",
                                fresh_start=arm == "scratch",
                                criterion=None if arm == "scratch" else "l1",
                                converged_at_first_decay=not (arm == "l1-lr0.001" and seed < 2),
                                history=history(a - drop, LRS[arm])))
    return rows


META = {"name": "mystery-lr", "reference": "scratch", "description": "LR mystery on a tiny net",
        "paper": {"scratch": {0.3: 93.16, 0.7: 92.11}, "l1-lr0.01": {0.3: 93.79, 0.7: 92.26}}}
def fairness_row(arm, seed):
    """The fairness columns a pipeline run of ``arm`` records (pipeline/fairness_record.py)."""
    scratch = arm == "scratch"
    epochs = 12 if scratch else 6
    return {"name": arm, "dataset": "mnist1d", "model": "cnn1d", "macs": 50000,
            "base": "fresh-init" if scratch else f"base{seed}", "retrain_epochs": epochs,
            "retrain_lr": LRS[arm], "batch_size": 128, "weight_decay": 5e-4, "momentum": 0.9,
            "prune_epochs": 0, "prune_lr": None, "pruning_epoch": None if scratch else 6,
            "overall_lr": LRS[arm] if scratch else "0:0.1,6:" + LRS[arm].split(",")[0].split(":")[1],
            "total_epochs": 12, "total_compute": 12 * 50000 if scratch else 6 * 100000 + 6 * 50000}


def real_audit(reference="l1-lr0.01"):
    """The audit the report gets, made by the real audit code from rows of the real columns."""
    from prunebench.study.rows import audit_groups

    groups = {(ratio, seed): {arm: fairness_row(arm, seed) for arm in LRS}
              for ratio in (0.3, 0.7) for seed in range(3)}
    return audit_groups(groups, reference)


AUDIT = real_audit()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    return write_report(d, full_rows(), META, AUDIT)


def test_files_written(report):
    out = report.parent
    assert report.name == "report.html" and out.name == "report"
    for name in ("report.md", "tables.tex", "results.csv", "tables.csv", "history.csv"):
        assert (out / name).stat().st_size > 0
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == ["accuracy_curves.png", "accuracy_vs_ratio.png", "jsv_curves.png", "ta_bars.png",
                    "vs_reference.png"]
    for p in (out / "figures").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".report-")]  # no temp dirs left


def test_html_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 5
    assert not re.search(r"https?://|<link|<script|src=\"(?!data:)", text)
    assert '<table class="results" id="table-accuracy">' in text and "paper: l1-lr0.01" in text


def test_markdown_links_figures_and_tex_uses_booktabs(report):
    md = (report.parent / "report.md").read_text(encoding="utf-8")
    assert "![Test accuracy vs retraining epoch](figures/accuracy_curves.png)" in md
    tex = (report.parent / "tables.tex").read_text(encoding="utf-8")
    assert tex.count(r"\toprule") == 2 and r"l1-lr0.01" in tex


def test_table_numbers_equal_results_csv(report):
    """Recompute every mean/std/n from results.csv by hand and compare with the table model."""
    rows = read_results_csv(report.parent / "results.csv")
    by = defaultdict(list)
    for r in rows:
        if r["status"] == "done":
            by[(r["arm"], round(r["ratio"], 6))].append(r["test_acc"] * 100)
    table = accuracy_table(aggregate(rows, "scratch"), META["paper"])
    ours = [row for row in table.rows if row.kind == "ours"]
    checked = 0
    for row in ours:
        arm = row.label.replace(" (reference)", "")
        for col, cell in zip(table.columns, row.cells):
            vals = by[(arm, float(col.split()[-1]))]
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
            assert cell.n == len(vals) and cell.mean == pytest.approx(mean, abs=1e-9)
            assert cell.std == pytest.approx(std, abs=1e-9)
            checked += 1
    assert checked == 6
    # and the rendered table in the report shows the same text
    md = (report.parent / "report.md").read_text(encoding="utf-8")
    assert "| l1-lr0.01 | **94.00 ± 1.00**† (n=3) | **89.00 ± 1.00**† (n=3) |" in md


def test_results_csv_plain_decimals(report):
    text = (report.parent / "results.csv").read_text(encoding="utf-8")
    assert "e-" not in text.split("\n", 1)[1].replace("scratch-e", "")  # no scientific notation
    assert ",0.0001," not in text and "0:0.001,4:0.0001" in text  # schedule is text, kept as written


def test_fairness_section(report):
    md = (report.parent / "report.md").read_text(encoding="utf-8")
    assert ("Scratch-style comparisons (equal total epochs SX-A / equal FLOPs SX-B / same overall LR schedule SO, "
            "Table 4's 'S4.2'): l1-lr0.01 vs scratch (SX-A; Table 4 would call it SX-A) in 6 comparisons") in md
    assert "l1-lr0.01 vs l1-lr0.001: strictest setup S3.1; differs in overall_lr, retrain_lr in 6 comparisons" in md
    assert ("Fairness: 6 pruning comparison(s) with 'l1-lr0.01': weakest setup S3.1; 6 of 6 fall short of S3.2; "
            "6 scratch-style comparison(s) with 'l1-lr0.01' (no shared base; judged by SX-A / SX-B): "
            "SX-A holds in 6, SX-B in 0; 0 hold neither.") in md
    assert "l1-lr0.01 vs scratch" not in md.split("Comparisons below S3.2")[1].split("###")[0]  # SX-A holds
    assert ("arm l1-lr0.001's first LR stage ended before convergence at ratio 0.3 "
            "(converged_at_first_decay false in 2 of 3 runs): give it more epochs") in md
    assert "arms l1-lr0.01 and l1-lr0.001 differ in retraining schedule" in md and "S3.1 comparison (same epochs" in md
    assert "compare pruning with scratch training at different final LRs" in md  # 0.01 vs 0.001


def test_degenerate_study_still_reported(tmp_path):
    """A diverged run, a failed run and a single seed: n=1, no std, counts and the error message shown."""
    rows = [run("scratch", 0.5, 0, 0.9, history=history(0.9, "0:0.1", jsv=False)),
            run("l1", 0.5, 0, 0.8),
            run("l1", 0.5, 1, None, status="diverged", error="loss became nan at epoch 2"),
            run("l1", 0.5, 2, None, status="failed", error="CUDA out of memory")]
    path = write_report(tmp_path, rows, {"name": "tiny", "reference": "scratch", "description": ""}, None)
    md = (path.parent / "report.md").read_text(encoding="utf-8")
    assert "| l1 | 80.00 ± n/a (n=1, 1 diverged, 1 failed) |" in md
    assert "| scratch (reference) | **90.00 ± n/a** (n=1) |" in md
    assert "diverged: run l1-0.5-1 (arm l1, ratio 0.5, seed 1): loss became nan at epoch 2" in md
    assert "failed: run l1-0.5-2 (arm l1, ratio 0.5, seed 2): CUDA out of memory" in md
    assert "n/a (needs n >= 2 in both arms, have n=1 vs n=1)" in md
    assert "No comparison-setup audit was supplied" in md
    assert "Mean JSV vs retraining epoch: skipped (no per-epoch 'jsv_mean' recorded" in md
    assert "Trainability accuracy per arm and ratio: skipped" in md
    html = path.read_text(encoding="utf-8")
    assert "CUDA out of memory" in html and "loss became nan" in html


def test_no_finished_run_at_all(tmp_path):
    rows = [run("a", 0.5, 0, None, status="failed", error="bad config"), run("a", 0.5, 1, None, status="running")]
    path = write_report(tmp_path, rows, {"name": "x", "reference": "a"}, None)
    md = (path.parent / "report.md").read_text(encoding="utf-8")
    assert "no finished run (1 failed, 1 unfinished)" in md and "this report is partial" in md
    assert md.count("skipped") == 5


def test_rewrite_replaces_and_crash_keeps_old_report(tmp_path, monkeypatch):
    rows = [run("a", 0.5, 0, 0.5)]
    path = write_report(tmp_path, rows, {"name": "first", "reference": "a"}, None)
    write_report(tmp_path, rows, {"name": "second", "reference": "a"}, None)
    assert "second" in path.read_text(encoding="utf-8")
    with pytest.raises(ReportError, match="no 'reference'"):
        write_report(tmp_path, rows, {"name": "third"}, None)
    import prunebench.report.writer as writer

    monkeypatch.setattr(writer.doc, "to_markdown", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_report(tmp_path, rows, {"name": "fourth", "reference": "a"}, None)
    assert "second" in path.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_lr_decay_epochs_and_helpers():
    assert lr_decay_epochs(history(0.9, "0:0.1,2:0.01,4:0.001")) == [2, 4]
    cosine = [{"epoch": e, "lr": 0.1 / (e + 1)} for e in range(20)]
    assert lr_decay_epochs(cosine) == []  # continuous schedule: nothing to mark
    agg = aggregate(full_rows(), "scratch")
    facts, short = audit_lines({"pairs": [], "summary": {}})
    assert "nothing to audit" in facts[0] and short == []
    assert any("ratio 0.7" in r for r in recommendations(full_rows(), agg))


def test_recipes_and_schedule_advice_come_from_finished_runs_only(tmp_path):
    """A failed run has the spec's schedule but no executed epochs: it must not make two arms with the
    same recipe look different, nor list its arm twice."""
    recipe = {"lr_schedule": "0:1e-2", "epochs": 3, "regime": "retrain"}
    rows = [run("a", 0.5, s, 0.9, **recipe) for s in range(2)] + [run("b", 0.5, s, 0.9, **recipe) for s in range(2)]
    rows.append(run("a", 0.5, 2, None, status="failed", error="boom", lr_schedule="0:1e-2", regime="retrain"))
    path = write_report(tmp_path, rows, {"name": "x", "reference": "a"}, None)
    md = (path.parent / "report.md").read_text(encoding="utf-8")
    assert "differ in retraining schedule" not in md
    recipes = md.split("## Retraining recipes")[1]
    assert recipes.count("- a:") == 1
