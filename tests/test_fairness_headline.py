"""One fairness summary: the report's headline and `prunebench audit DIR` say the same thing, scratch-style
comparisons included; `audit --strict` exits 1 when a comparison falls short."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import prunebench.cli as cli
from prunebench.report.headline import is_short, study_headline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

QUICKSTART = Path(__file__).resolve().parents[1] / "studies" / "quickstart.yaml"


@pytest.fixture
def cli_main(monkeypatch):
    if "study" not in cli.GROUPS:
        monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, "study"])
    return cli.main


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The quickstart study's arms (l1, random, scratch-e) and ratios, on a few epochs and samples."""
    from prunebench.study import run_study

    study = yaml.safe_load(QUICKSTART.read_text())
    study.update(data={"name": "mnist1d", "num_samples": 500}, model={"name": "cnn1d", "args": {"channels": [8, 8, 8]}},
                 base={"epochs": 2, "lr_schedule": "0:0.1,1:0.01", "batch_size": 64},
                 retrain={"epochs": 2, "lr": 0.1}, seeds=[0, 1], jsv_samples=4)
    root = tmp_path_factory.mktemp("quick")
    path = root / "quickstart.yaml"
    path.write_text(yaml.safe_dump(study))
    assert run_study(path, root / "out", progress=False, quiet=True) == 0
    return root / "out"


def test_report_headline_equals_the_audit_of_the_quickstart_study(quickstart, cli_main, capsys):
    assert cli_main(["audit", str(quickstart)]) == 0
    audit_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli_main(["report", str(quickstart)]) == 0
    md = (quickstart / "report" / "report.md").read_text(encoding="utf-8")
    headline = [line[2:] for line in md.splitlines() if line.startswith("- Fairness: ")][0]
    assert headline == audit_line + " Recommended: S3.2 or stricter."
    # random vs l1: 2 ratios x 2 seeds of pruning comparisons (same base, same recipe: S4.2);
    # scratch-e vs l1: 4 scratch-style comparisons (equal total epochs: SX-A; fewer MACs when pruned: not SX-B).
    assert audit_line == ("Fairness: 4 pruning comparison(s) with 'l1': weakest setup S4.2; 0 of 4 fall short of "
                          "S3.2; 4 scratch-style comparison(s) with 'l1' (no shared base; judged by SX-A / SX-B): "
                          "SX-A holds in 4, SX-B in 0; 0 hold neither.")
    assert cli_main(["audit", str(quickstart), "--strict"]) == 0
    capsys.readouterr()
    # SX-B as the target: the scratch-style comparisons (fewer MACs than the dense pretraining) fall short.
    assert cli_main(["audit", str(quickstart), "--strict", "--target", "SX-B"]) == 1


def test_is_short_for_pruning_and_scratch_style_pairs():
    prune = {"holds": ["S1", "S2", "S3.1"], "strictest": "S3.1"}
    scratch = {"holds": ["S1", "SX-A"], "strictest": "S1", "fresh_start": True}
    neither = {"holds": ["S1"], "strictest": "S1", "fresh_start": True}
    assert is_short(prune, "S3.2") and not is_short(prune, "S3.1")
    assert not is_short(scratch, "S3.2") and is_short(neither, "S3.2")
    assert is_short(scratch, "SX-B") and not is_short(scratch, "SX-A")
    line = study_headline({"pairs": [dict(prune, a="r"), dict(scratch, a="r"), dict(neither, a="r")],
                           "summary": {"target": "S3.2"}})
    assert line == ("Fairness: 1 pruning comparison(s) with 'r': weakest setup S3.1; 1 of 1 fall short of S3.2; "
                    "2 scratch-style comparison(s) with 'r' (no shared base; judged by SX-A / SX-B): "
                    "SX-A holds in 1, SX-B in 0; 1 hold neither.")
