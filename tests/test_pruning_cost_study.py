"""studies/pruning-cost.yaml, one seed and a shorter base: the audit says S3.2 holds and S4.1 fails
between L1 and the regularisation arms (prune_epochs named), and the equal-budget L1 arm meets SX-A
against them."""
from pathlib import Path

import yaml

from prunebench.study import run_study
from prunebench.study.rows import audit_study

STUDY = Path(__file__).resolve().parent.parent / "studies" / "pruning-cost.yaml"


def test_pruning_cost_audit(tmp_path):
    study = yaml.safe_load(STUDY.read_text())
    study["seeds"] = [0]
    study["base"] = {**study["base"], "epochs": 3, "lr_schedule": "0:0.1,2:0.01"}
    run_study(study, tmp_path / "pc", progress=False)
    pairs = {p["arm"]: p for p in audit_study(tmp_path / "pc", tolerance=0.02, target="S3.2", reference="l1", compare=None)["pairs"]}
    for arm in ("greg-1", "tpp"):
        assert pairs[arm]["strictest"] == "S3.2" and "S4.1" not in pairs[arm]["holds"]
        assert "prune_epochs" in pairs[arm]["differs"]
    assert "macs" in pairs["slimming"]["differs"]  # its global threshold: another architecture
    equal = {p["arm"]: p for p in audit_study(tmp_path / "pc", tolerance=0.02, target="S3.2", reference="l1-equal-epochs",
                                               compare=None)["pairs"]}
    for arm in ("greg-1", "tpp"):
        assert "SX-A" in equal[arm]["holds"] and "total_epochs" not in equal[arm]["differs"]
    assert "SX-A" not in equal["l1"]["holds"]
