"""Reports and summaries of studies with awkward content (issue 15, smaller items): names and
descriptions holding HTML, mathtext, a leading underscore or a newline; reports a killed `report` left
half-made; status after a crash; an audit with nothing to audit."""
from __future__ import annotations

import os
import sqlite3
import time

import pytest
import yaml

from prunebench.cli import main
from prunebench.study import run_study
from study_fixture import STUDY, copy_study

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ODD_ARMS = ["$\\alpha_{bad", "_hidden", "<b>bold</b>\nnext line"]


@pytest.fixture(scope="module")
def odd_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("odd")
    study = {**STUDY, "description": "<script>alert(1)</script> & more",
             "arms": [{"name": "l1", "criterion": "l1"}] + [{"name": n, "criterion": "random", "retrain": {"lr": 0.01 * (i + 2)}}
                                                              for i, n in enumerate(ODD_ARMS)]}
    (root / "study.yaml").write_text(yaml.safe_dump(study))
    assert run_study(root / "study.yaml", root / "out", progress=False, quiet=True) == 0
    return root / "out"


def cli(argv, capsys):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_report_of_odd_names_escapes_markdown_and_keeps_every_legend_entry(odd_study, capsys):
    code, out, err = cli(["report", odd_study], capsys)
    assert code == 0, err
    md = (odd_study / "report" / "report.md").read_text()
    assert "<script>" not in md and "&lt;script>alert(1)&lt;/script> & more" in md
    assert "<b>" not in md and "&lt;b>bold&lt;/b> next line" in md
    # every table row is one line: each row of a table has its header's number of cells
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line.replace(r"\|", ""))
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 2
    for rows in tables:
        assert len({row.count("|") for row in rows}) == 1, rows
    assert r"| \$\alpha_{bad @ 0.25 |" in md
    html = (odd_study / "report" / "report.html").read_text()
    assert "<script>" not in html and "<b>bold" not in html


def test_legend_labels_are_shown_literally():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from prunebench.report.plots import mpl_text

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name in ODD_ARMS:
        ax.plot([0, 1], [0, 1], label=mpl_text(name))
    legend = ax.legend()
    fig.canvas.draw()  # a mathtext parse error would raise here
    assert [t.get_text().strip() for t in legend.get_texts()] == [mpl_text(n).strip() for n in ODD_ARMS]
    assert len(legend.get_texts()) == 3  # "_hidden" is not dropped


def test_report_removes_what_a_killed_report_left(tmp_path, capsys):
    study = copy_study(tmp_path / "s")
    stale = study / ".report-new-abc123"
    (stale / "figures").mkdir(parents=True)
    (stale / "report.md").write_text("half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    code, _, err = cli(["report", study], capsys)
    assert code == 0, err
    assert not stale.exists() and (study / "report" / "report.md").is_file()
    assert not list(study.glob(".report-*"))


def test_status_after_a_crash_counts_what_the_runs_say(tmp_path, capsys):
    study = copy_study(tmp_path / "s")
    conn = sqlite3.connect(study / "study.sqlite")
    conn.execute("UPDATE runs SET status = 'running' WHERE kind = 'run'")  # what a kill -9 leaves
    conn.commit()
    conn.close()
    code, out, err = cli(["status", study], capsys)
    assert code == 0, err
    assert "pipeline runs: 2 interrupted" in out
    assert not [line for line in out.splitlines() if "running" in line and "interrupted" not in line]
    assert out.count("interrupted") >= 3  # the counts, the note and each run agree
    code, out, _ = cli(["status", study, "--json"], capsys)
    import json

    status = json.loads(out)
    assert status["runs"]["interrupted"] == 2 and "running" not in status["runs"]
    assert {r["status"] for r in status["notable"]} == {"interrupted"}


def test_audit_of_a_study_with_no_finished_runs_says_there_is_nothing_to_audit(tmp_path, capsys):
    study = copy_study(tmp_path / "s")
    conn = sqlite3.connect(study / "study.sqlite")
    conn.execute("UPDATE runs SET status = 'pending', result = NULL")
    conn.commit()
    conn.close()
    code, out, err = cli(["audit", study], capsys)
    assert code == 0, err
    assert "nothing to audit" in out and "0 of 0" not in out and "┏" not in out
    from prunebench.fairness import summary_line

    assert summary_line({"reference": "l1", "target": "S3.2", "n_pairs": 0, "strictest": None,
                         "meets_target": False, "short": []}) == "nothing to audit: no comparison with 'l1'."
